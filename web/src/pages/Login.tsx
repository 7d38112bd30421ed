// The login page, and the first-run page that creates the owner while no user exists.
import { useState, type FormEvent } from "react";
import { api, ApiError } from "../api/client";
import { TextField, ErrorBanner } from "../components/ui";
import { navigate } from "../router";
import { useSession, type User } from "../session";

export function Login() {
  const { session, signedIn } = useSession();
  const setup = session?.setup ?? false;
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api.post<{ user: User; csrf: string }>(setup ? "/api/setup" : "/api/session", { email, password });
      signedIn(s);
      navigate("/flows", true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (f: string) => (error instanceof ApiError ? error.forField(f) : undefined);
  return (
    <div className="center-page">
      <form className="card login" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">{setup ? "Create the owner account" : "Log in to Cairn"}</h1>
        {setup && <p>No one has an account yet. The owner you create here can add others and API keys.</p>}
        {error && !(error instanceof ApiError && (fieldError("email") || fieldError("password"))) ? (
          <ErrorBanner error={error} />
        ) : null}
        <TextField label="Email" type="email" autoComplete="username" value={email} onChange={setEmail} error={fieldError("email")} required />
        <TextField
          label="Password"
          type="password"
          autoComplete={setup ? "new-password" : "current-password"}
          value={password}
          onChange={setPassword}
          error={fieldError("password")}
          hint={setup ? "At least 10 characters." : undefined}
          required
        />
        <button type="submit" className="primary" disabled={busy}>
          {setup ? "Create account" : "Log in"}
        </button>
      </form>
    </div>
  );
}
