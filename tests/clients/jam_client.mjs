// Drives Kontor with the npm JMAP client `jmap-jam` (pinned by scripts/test). Run by
// tests/tests/jmap_clients.rs, which delivered the messages before and checks the effects after.
//
//   JAM_MODULE=/path/to/node_modules/jmap-jam/dist/index.js \
//     node jam_client.mjs BASE_URL USER PASSWORD EXPECTED_INBOX_COUNT
//
// jmap-jam speaks Bearer only: the script trades the password for an access token at the
// server's /api/token, then gives jam the well-known URL and the token. Steps: session,
// Mailbox/get, Email/query + Email/get in one request (ids by back-reference, jam's $ref),
// a text body, Email/set (a keyword on the newest message, a draft created in Drafts),
// Email/changes. Prints one JSON line with what it saw; exits non-zero on the first failure.

const [base, user, password, expected] = process.argv.slice(2);
if (!base || !user || !password || !expected) {
  console.error("usage: jam_client.mjs BASE_URL USER PASSWORD EXPECTED_INBOX_COUNT");
  process.exit(2);
}
const host = new URL(base).hostname;
if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) {
  console.error(`refusing non-loopback ${base}`);
  process.exit(2);
}
const { JamClient } = await import(process.env.JAM_MODULE ?? "jmap-jam");

function check(cond, what) {
  if (!cond) {
    console.error("FAIL:", what);
    process.exit(1);
  }
}
const show = (v) => JSON.stringify(v);

const basic = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
const tokenResponse = await fetch(new URL("/api/token", base), { method: "POST", headers: { Authorization: basic } });
check(tokenResponse.ok, `a token for the password: HTTP ${tokenResponse.status}`);
const { access_token: bearerToken } = await tokenResponse.json();

const jam = new JamClient({ sessionUrl: new URL("/.well-known/jmap", base).href, bearerToken });
const session = await jam.session;
check(session.username === user, `session username ${session.username}`);
const accountId = await jam.getPrimaryAccount();
check(accountId && session.accounts[accountId], `a primary mail account in ${show(session.primaryAccounts)}`);
const seen = {};

// Mailboxes.
const [mailboxes] = await jam.api.Mailbox.get({ accountId, ids: null });
const byRole = Object.fromEntries(mailboxes.list.filter((m) => m.role).map((m) => [m.role, m]));
check(byRole.inbox && byRole.drafts, `inbox and drafts in ${show(Object.keys(byRole))}`);
check(byRole.inbox.totalEmails === Number(expected), `Inbox totalEmails ${byRole.inbox.totalEmails}`);
seen.mailboxes = mailboxes.list.map((m) => m.name).sort();

// Query and get in one request.
const [{ query, emails }] = await jam.requestMany((t) => {
  const query = t.Email.query({
    accountId,
    filter: { inMailbox: byRole.inbox.id },
    sort: [{ property: "receivedAt", isAscending: false }],
    calculateTotal: true,
  });
  const emails = t.Email.get({
    accountId,
    ids: query.$ref("/ids"),
    properties: ["subject", "from", "receivedAt", "keywords", "textBody", "bodyValues"],
    fetchTextBodyValues: true,
  });
  return { query, emails };
});
check(query.total === Number(expected), `Email/query total ${query.total}`);
check(show(emails.list.map((e) => e.id)) === show(query.ids), "Email/get answers the referenced ids in order");
const times = emails.list.map((e) => Date.parse(e.receivedAt));
check(times.every((t, i) => i === 0 || times[i - 1] >= t), `newest first: ${show(times)}`);
for (const e of emails.list) {
  const part = e.textBody[0];
  check(part && typeof e.bodyValues[part.partId]?.value === "string", `a text body for ${e.subject}`);
}
seen.subjects = emails.list.map((e) => e.subject);

// A keyword on the newest message, and a draft in Drafts, in one Email/set.
const newest = query.ids[0];
const [set] = await jam.api.Email.set({
  accountId,
  update: { [newest]: { "keywords/$seen": true } },
  create: {
    draft: {
      mailboxIds: { [byRole.drafts.id]: true },
      keywords: { $draft: true },
      from: [{ name: "Ann", email: user }],
      to: [{ email: "bob@example.com" }],
      subject: "Draft from jam",
      bodyValues: { b: { value: "Written with jmap-jam.\n" } },
      textBody: [{ partId: "b", type: "text/plain" }],
    },
  },
});
check(set.updated && newest in set.updated, `keyword set: ${show(set)}`);
check(set.created?.draft?.id, `draft created: ${show(set)}`);
seen.seen = newest;
seen.draft = set.created.draft.id;

// The change shows in Email/changes since the query's state.
const [changes] = await jam.api.Email.changes({ accountId, sinceState: emails.state });
check(changes.updated.includes(newest), `Email/changes has the keyword change: ${show(changes)}`);
check(changes.created.includes(seen.draft), `Email/changes has the draft: ${show(changes)}`);

console.log(show(seen));
console.log("jmap-jam: all steps passed");
