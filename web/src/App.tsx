// The shell: the session decides between the login (or first-run) page and the app; the app
// is a navigation bar and the page the URL names.
import { lazy, Suspense, type ReactNode } from "react";
import { Link, match, navigate, Router, useRoute } from "./router";
import { SessionProvider, useSession } from "./session";
import { Login } from "./pages/Login";
import { Flows } from "./pages/Flows";
import { Contacts } from "./pages/Contacts";
import { Contact } from "./pages/Contact";
import { Segments } from "./pages/Segments";
import { SegmentPage } from "./pages/Segment";
import { Imports } from "./pages/Imports";
import { Settings } from "./pages/Settings";
import { Audience } from "./pages/Audience";

// The editor carries React Flow: it loads when a flow is opened.
const Editor = lazy(() => import("./editor/Editor"));

export function App() {
  return (
    <Router>
      <SessionProvider>
        <Gate />
      </SessionProvider>
    </Router>
  );
}

function Gate() {
  const { session, error } = useSession();
  const { path } = useRoute();
  if (error && !session) return <div className="center-page banner banner-error">Cairn cannot be reached: {error}</div>;
  if (!session) return <div className="center-page">Loading…</div>;
  const signedIn = session.user !== null || session.open;
  if (!signedIn || path === "/login" || path === "/setup") {
    if (signedIn && path === "/login") {
      navigate("/flows", true);
      return null;
    }
    return <Login />;
  }
  return <Shell />;
}

const NAV: { to: string; label: string }[] = [
  { to: "/flows", label: "Journeys" },
  { to: "/contacts", label: "Contacts" },
  { to: "/segments", label: "Segments" },
  { to: "/audience", label: "Tags & lists" },
  { to: "/imports", label: "Imports" },
  { to: "/settings", label: "Settings" },
];

function Shell() {
  const { session, logout } = useSession();
  const { path } = useRoute();
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/flows" className="brand">
          Cairn
        </Link>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} className={path.startsWith(n.to) ? "active" : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          {session?.user ? (
            <>
              <span>{session.user.email}</span>
              <button type="button" className="link" onClick={() => void logout()}>
                Log out
              </button>
            </>
          ) : (
            <span className="open-note" title="No user exists yet and the service listens on a loopback address">
              Open: <Link to="/setup">create the owner</Link> to require login
            </span>
          )}
        </div>
      </header>
      <main>
        <Suspense fallback={<div className="page">Loading…</div>}>
          <Page path={path} />
        </Suspense>
      </main>
    </div>
  );
}

function Page({ path }: { path: string }): ReactNode {
  if (path === "/" || path === "/flows") return <Flows />;
  let m = match("/flows/:id", path);
  if (m) return <Editor key={m.id} id={m.id} />;
  if (path === "/contacts") return <Contacts />;
  m = match("/contacts/:id", path);
  if (m) return <Contact key={m.id} id={m.id} />;
  if (path === "/segments") return <Segments />;
  m = match("/segments/:id", path);
  if (m) return <SegmentPage key={m.id} id={m.id} />;
  if (path === "/audience") return <Audience />;
  if (path === "/imports") return <Imports />;
  if (path === "/settings") return <Settings />;
  return (
    <div className="page">
      <h1>Nothing here</h1>
      <p>
        There is no page at <code>{path}</code>. <Link to="/flows">Go to the journeys</Link>.
      </p>
    </div>
  );
}
