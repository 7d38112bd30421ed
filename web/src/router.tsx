// The app's URLs, so that people can share links: a small history-API router (the service
// answers every app path with index.html).
import { createContext, useContext, useEffect, useState, type MouseEvent, type ReactNode } from "react";

const RouteContext = createContext<{ path: string; search: URLSearchParams }>({
  path: "/",
  search: new URLSearchParams(),
});

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function Router({ children }: { children: ReactNode }) {
  const [location, setLocation] = useState(location0);
  useEffect(() => {
    const update = () => setLocation(location0());
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return <RouteContext.Provider value={location}>{children}</RouteContext.Provider>;
}

function location0() {
  return { path: window.location.pathname, search: new URLSearchParams(window.location.search) };
}

export function useRoute() {
  return useContext(RouteContext);
}

/** Matches `/flows/:id` against `/flows/3`: `{ id: "3" }`, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(":")) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={onClick} className={className}>
      {children}
    </a>
  );
}
