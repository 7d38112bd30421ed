// Who is signed in. `GET /api/session` says whether a user is logged in, whether the service
// is still open (a loopback server before its owner exists) and whether the first-run page is
// offered; the CSRF token it returns goes on every change the app makes.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, ApiError, setCsrf, whenUnauthorized } from "./api/client";

export interface User {
  id: number;
  email: string;
  role: string;
}

export interface SessionState {
  user: User | null;
  csrf: string | null;
  /** No user exists yet: the first-run page creates the owner. */
  setup: boolean;
  /** The API answers without login (loopback, no token, no user). */
  open: boolean;
}

interface SessionContextValue {
  session: SessionState | null;
  error: string | null;
  refresh: () => Promise<void>;
  signedIn: (s: { user: User; csrf: string }) => void;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionContextValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(async () => {
    try {
      const s = await api.get<SessionState>("/api/session");
      setCsrf(s.csrf);
      setSession(s);
      setError(null);
    } catch (e) {
      // A service without accounts answers as an open one.
      if (e instanceof ApiError && e.status === 404) {
        setSession({ user: null, csrf: null, setup: false, open: true });
        setError(null);
      } else setError(e instanceof ApiError ? e.message : String(e));
    }
  }, []);
  useEffect(() => {
    void refresh();
    whenUnauthorized(() => void refresh());
  }, [refresh]);
  const signedIn = useCallback((s: { user: User; csrf: string }) => {
    setCsrf(s.csrf);
    setSession({ user: s.user, csrf: s.csrf, setup: false, open: false });
  }, []);
  const logout = useCallback(async () => {
    await api.del("/api/session");
    setCsrf(null);
    await refresh();
  }, [refresh]);
  return (
    <SessionContext.Provider value={{ session, error, refresh, signedIn, logout }}>{children}</SessionContext.Provider>
  );
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}
