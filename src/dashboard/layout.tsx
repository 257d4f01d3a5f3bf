// The dashboard's page frame: server-rendered with hono/jsx (values are escaped by JSX), accessible
// landmarks, one small stylesheet, no client framework. Pages render their body inside `Layout`.
import type { Child } from "hono/jsx";

/** The sections of the dashboard, in navigation order: [path under /dashboard, label]. */
export const NAV: [string, string][] = [
  ["/", "Overview"],
  ["/connections", "IdP connections"],
  ["/users", "Users"],
  ["/groups", "Groups"],
  ["/logs/scim", "Provisioning log"],
  ["/access/apps", "Access apps"],
  ["/gateway/rules", "Gateway rules"],
  ["/gateway/devices", "Devices"],
  ["/gateway/logs", "DNS log"],
  ["/drift", "Directory drift"],
  ["/tokens", "API tokens"],
];

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1d2b3a;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#fff}nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem}
main{max-width:72rem;margin:1.5rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
code,.secret{font-family:ui-monospace,monospace;word-break:break-all}.secret{background:#fff8d6;padding:.3rem .5rem;display:inline-block}
form.inline{display:inline}label{display:block;margin:.4rem 0}input,select,textarea,button{font:inherit}
.notice{background:#e8f4ff;padding:.5rem .8rem;border-left:4px solid #0a63c9}.error{background:#fdecec;padding:.5rem .8rem;border-left:4px solid #c62828}
.muted{color:#666}a[aria-current=page]{font-weight:bold;text-decoration:underline}
`;

export interface LayoutProps {
  title: string;
  /** The current path under /dashboard, to mark the navigation entry. */
  current?: string;
  /** Who is signed in (shown in the header). */
  who?: string | null;
  children?: Child;
}

/** The page frame: header with navigation, a main landmark with the page's h1. */
export function Layout({ title, current, who, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width" />
        <title>{`${title} · zt-identity-edge`}</title>
        <style>{STYLE}</style>
      </head>
      <body>
        <header>
          <strong>zt-identity-edge</strong>
          <nav aria-label="Dashboard">
            <ul>
              {NAV.map(([path, label]) => (
                <li>
                  <a href={`/dashboard${path === "/" ? "/" : path}`} aria-current={current === path ? "page" : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          {who ? <span class="muted" style="margin-left:auto;color:#cfd8e3">{who}</span> : null}
        </header>
        <main>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}

/** A hidden CSRF field for a state-changing form. */
export function Csrf({ token }: { token: string }) {
  return <input type="hidden" name="csrf" value={token} />;
}

/** A form's refusals (the service's 400 messages), announced to assistive technology; nothing when there are none. */
export function FormErrors({ heading, messages }: { heading?: string; messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <div class="error" role="alert" data-testid="form-error">
      {heading ? <strong>{heading}</strong> : null}
      <ul>
        {messages.map((m) => (
          <li>{m}</li>
        ))}
      </ul>
    </div>
  );
}
