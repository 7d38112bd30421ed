// `/settings`: the send policy in force, the providers of each channel, users and API keys.
import { useState } from "react";
import { api, ApiError } from "../api/client";
import { ErrorBanner, SelectField, TextField, useLoad, when, ago } from "../components/ui";
import { useSession } from "../session";
import { Policy } from "./Policy";

interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at?: string | null;
  revoked_at?: string | null;
}

interface UserRow {
  id: number;
  email: string;
  role: string;
  created_at?: string;
  last_login_at?: string | null;
}

export function Settings() {
  return (
    <div className="page settings">
      <h1>Settings</h1>
      <Policy />
      <div className="columns">
        <Users />
        <Keys />
      </div>
      <div className="columns">
        <Providers />
        <Password />
      </div>
    </div>
  );
}

function Providers() {
  const providers = useLoad(() => api.get<Record<string, unknown>[]>("/api/providers"), []);
  return (
    <section className="card" aria-labelledby="providers-title">
      <h2 id="providers-title">Providers</h2>
      <ErrorBanner error={providers.error} />
      <table className="table compact">
        <tbody>
          {providers.data?.map((p, i) => (
            <tr key={i}>
              <td>{String(p.channel)}</td>
              <td>{p.provider === "outbox" ? "the outbox (kept, not sent)" : String(p.provider ?? "")}</td>
              <td>{p.provider === "outbox" ? "no provider configured" : p.configured ? "configured" : "not configured"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Users() {
  const { session } = useSession();
  const users = useLoad(() => api.get<UserRow[]>("/api/users"), []);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState("member");
  const [error, setError] = useState<unknown>(null);
  const [rowError, setRowError] = useState<unknown>(null);
  const [resetting, setResetting] = useState<{ id: number; password: string } | null>(null);
  const [resetDone, setResetDone] = useState<string | null>(null);
  // A refused new password is shown under its input, not in the banner.
  const resetProblem = resetting && rowError instanceof ApiError ? rowError.forField("password") : undefined;
  const owner = session?.user?.role === "owner";
  const fieldError = (f: string) => (error instanceof ApiError ? error.forField(f) : undefined);
  const act = async (change: () => Promise<unknown>) => {
    setRowError(null);
    try {
      await change();
    } catch (e) {
      setRowError(e);
    }
    await users.reload();
  };
  return (
    <section className="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <p className="hint">Owners add users, change roles and remove users; members do everything else.</p>
      <ErrorBanner error={(resetProblem ? null : rowError) ?? users.error} />
      {resetDone && (
        <div className="banner banner-ok" role="status">
          {resetDone}
        </div>
      )}
      <table className="table compact">
        <tbody>
          {users.data?.map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>
                {owner ? (
                  <select aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => void act(() => api.patch(`/api/users/${u.id}`, { role: e.target.value }))}>
                    <option value="owner">owner</option>
                    <option value="member">member</option>
                  </select>
                ) : (
                  u.role
                )}
              </td>
              <td className="hint nowrap">last login {ago(u.last_login_at)}</td>
              <td>
                {owner && u.id !== session?.user?.id && (
                  <span className="inline">
                    {resetting?.id === u.id ? (
                      <form
                        className="inline"
                        onSubmit={(e) => {
                          e.preventDefault();
                          const { id, password } = resetting;
                          void act(async () => {
                            await api.put(`/api/users/${id}/password`, { password });
                            setResetting(null);
                            setResetDone(`${u.email} has a new password; their sessions have ended.`);
                          });
                        }}
                      >
                        <input className="password-reset" aria-label={`New password for ${u.email}`} aria-describedby={resetProblem ? `reset-${u.id}-error` : undefined} aria-invalid={resetProblem ? true : undefined} type="password" autoComplete="new-password" value={resetting.password} onChange={(e) => setResetting({ id: u.id, password: e.target.value })} />
                        <button type="submit" className="small">Set</button>
                        <button type="button" className="small" onClick={() => { setResetting(null); setRowError(null); }}>Cancel</button>
                        {resetProblem && (
                          <div className="field-error" id={`reset-${u.id}-error`} role="alert">
                            {resetProblem}
                          </div>
                        )}
                      </form>
                    ) : (
                      <button type="button" className="small" onClick={() => { setResetDone(null); setResetting({ id: u.id, password: "" }); }}>
                        New password
                      </button>
                    )}
                    <button type="button" className="small danger" onClick={() => void act(() => api.del(`/api/users/${u.id}`))}>
                      Remove
                    </button>
                  </span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {owner && (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await api.post("/api/users", { email, password, role });
              setEmail("");
              setPassword("");
              setError(null);
              await users.reload();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <h3>Add a user</h3>
          {error && !fieldError("email") && !fieldError("password") ? <ErrorBanner error={error} /> : null}
          <TextField label="Email" type="email" value={email} onChange={setEmail} error={fieldError("email")} />
          <TextField label="Password" type="password" autoComplete="new-password" value={password} onChange={setPassword} error={fieldError("password")} hint="At least 10 characters." />
          <SelectField label="Role" value={role} onChange={setRole} error={fieldError("role")} options={[{ value: "member", label: "member" }, { value: "owner", label: "owner: also manages users" }]} />
          <button type="submit">Add user</button>
        </form>
      )}
    </section>
  );
}

function Keys() {
  const keys = useLoad(() => api.get<ApiKey[]>("/api/keys"), []);
  const [name, setName] = useState("");
  const [made, setMade] = useState<{ name: string; token: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p className="hint">Send a key as <code>Authorization: Bearer &lt;key&gt;</code>. It is shown once, when made.</p>
      <ErrorBanner error={error ?? keys.error} />
      {made && (
        <div className="banner banner-ok" role="status">
          New key “{made.name}”: <code data-testid="new-key">{made.token}</code> — copy it now; it will not be shown again.
        </div>
      )}
      <table className="table compact">
        <thead>
          <tr>
            <th>Name</th>
            <th>Key</th>
            <th>Made</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.data?.map((k) => (
            <tr key={k.id} className={k.revoked_at ? "inactive" : undefined}>
              <td>{k.name}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{when(k.created_at)}</td>
              <td>{ago(k.last_used_at)}</td>
              <td>
                {k.revoked_at ? (
                  <span className="hint">revoked {when(k.revoked_at)}</span>
                ) : (
                  <button type="button" className="small danger" onClick={async () => { try { await api.del(`/api/keys/${k.id}`); await keys.reload(); } catch (e) { setError(e); } }}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const k = await api.post<ApiKey & { token: string }>("/api/keys", { name });
            setMade({ name: k.name, token: k.token });
            setName("");
            setError(null);
            await keys.reload();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <input aria-label="Key name" placeholder="e.g. shop backend" value={name} onChange={(e) => setName(e.target.value)} required />
        <button type="submit">Create key</button>
      </form>
    </section>
  );
}

function Password() {
  const { session } = useSession();
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  if (!session?.user) return null;
  const fieldError = (f: string) => (error instanceof ApiError ? error.forField(f) : undefined);
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">Your password</h2>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setDone(false);
          try {
            await api.put("/api/users/me/password", { current, password });
            setCurrent("");
            setPassword("");
            setError(null);
            setDone(true);
          } catch (err) {
            setError(err);
          }
        }}
      >
        {done && <div className="banner banner-ok" role="status">Changed. Your other sessions have ended.</div>}
        {error && !fieldError("current") && !fieldError("password") ? <ErrorBanner error={error} /> : null}
        <TextField label="Current password" type="password" autoComplete="current-password" value={current} onChange={setCurrent} error={fieldError("current")} />
        <TextField label="New password" type="password" autoComplete="new-password" value={password} onChange={setPassword} error={fieldError("password")} hint="At least 10 characters." />
        <button type="submit">Change password</button>
      </form>
    </section>
  );
}
