#!/usr/bin/env python3
"""Drives Kontor with the PyPI JMAP client `jmapc` (0.4.0), as a user would: only the base URL,
the user and the password. Run by tests/tests/jmap_clients.rs, which delivered the messages
before and checks the effects afterwards (over IMAP and JMAP).

  python jmapc_client.py --base https://localhost:PORT --user ann@example.com --password PW \
      --to bob@example.com --expect 3 --search zebra

Steps: session and Mailbox/get; Email/query + Email/get in one request (the get takes the ids by
back-reference, jmapc's Ref); a text body; a text search; a keyword set; an EventSource
StateChange after that change; a message sent with Email/set create + EmailSubmission/set
(onSuccessUpdateEmail moves it from Drafts to Sent). Prints one JSON line with what it saw and
exits non-zero on the first thing that is wrong. Talks to loopback only.
"""

import argparse
import functools
import ipaddress
import json
import sys
import threading
import time
import urllib.parse

from jmapc import Client, Comparator, EmailQueryFilterCondition, Ref
from jmapc.methods import (
    EmailGet,
    EmailQuery,
    EmailSet,
    EmailSubmissionSet,
    IdentityGet,
    MailboxGet,
)
from jmapc.models import (
    Email,
    EmailAddress,
    EmailBodyPart,
    EmailBodyValue,
    EmailSubmission,
    Envelope,
)
from jmapc.models.email_submission import Address
from jmapc.session import Session


def fail(what):
    print("FAIL:", what, file=sys.stderr)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


def loopback_only(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    check(ok, f"{url} is not a loopback URL")


class PlainHttpClient(Client):
    """jmapc asks https://HOST/.well-known/jmap; the test server speaks plain HTTP on loopback.
    The session is fetched from the base URL instead (following the server's redirect), and its
    URLs are made absolute against where it came from."""

    def __init__(self, base, user, password, **kw):
        self.base = base.rstrip("/")
        super().__init__(urllib.parse.urlsplit(base).netloc, auth=(user, password), **kw)

    @functools.cached_property
    def jmap_session(self):
        r = self.requests_session.get(self.base + "/.well-known/jmap", timeout=30)
        r.raise_for_status()
        doc = r.json()
        for key in ("apiUrl", "downloadUrl", "uploadUrl", "eventSourceUrl"):
            if key in doc:
                # urljoin percent-encodes nothing, but keep the RFC 6570 braces literal anyway.
                doc[key] = urllib.parse.urljoin(r.url, doc[key]).replace("%7B", "{").replace("%7D", "}")
                loopback_only(doc[key])
        return Session.from_dict(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--to", required=True, help="recipient of the message sent")
    ap.add_argument("--expect", type=int, required=True, help="messages in the Inbox")
    ap.add_argument("--search", required=True, help="a word in exactly one message's body")
    a = ap.parse_args()
    loopback_only(a.base)
    if a.base.startswith("https://"):
        # jmapc as it ships: https://HOST/.well-known/jmap, certificates checked (the test's
        # self-signed one through REQUESTS_CA_BUNDLE).
        client = Client(urllib.parse.urlsplit(a.base).netloc, auth=(a.user, a.password))
    else:
        client = PlainHttpClient(a.base, a.user, a.password)
    seen = {}

    # Session and mailboxes.
    check(client.jmap_session.username == a.user, "session username")
    account = client.account_id
    mailboxes = client.request(MailboxGet(ids=None), raise_errors=True)
    roles = {m.role: m for m in mailboxes.data if m.role}
    for role in ("inbox", "drafts", "sent"):
        check(role in roles, f"a mailbox with role {role} in {list(roles)}")
    inbox, drafts, sent = roles["inbox"], roles["drafts"], roles["sent"]
    check(inbox.total_emails == a.expect, f"Inbox totalEmails {inbox.total_emails}, expected {a.expect}")
    seen["mailboxes"] = sorted(m.name for m in mailboxes.data)

    # Query and get in one request: the get names the query's ids by reference.
    result = client.request(
        [
            EmailQuery(
                filter=EmailQueryFilterCondition(in_mailbox=inbox.id),
                sort=[Comparator(property="receivedAt", is_ascending=False)],
                limit=10,
                calculate_total=True,
            ),
            EmailGet(ids=Ref("/ids"), properties=["subject", "from", "receivedAt", "keywords", "preview"]),
        ],
        raise_errors=True,
    )
    query, got = result[0].response, result[1].response
    check(query.total == a.expect, f"Email/query total {query.total}")
    check([e.id for e in got.data] == query.ids, "Email/get answers the referenced ids in order")
    check(all(e.mail_from and e.mail_from[0].email for e in got.data), "every message has a From address")
    times = [e.received_at for e in got.data]
    check(times == sorted(times, reverse=True), "sorted by receivedAt, newest first")
    seen["subjects"] = [e.subject for e in got.data]

    # A text search, and the body of what it found.
    found = client.request(EmailQuery(filter=EmailQueryFilterCondition(body=a.search)), raise_errors=True)
    check(len(found.ids) == 1, f"one message with {a.search!r} in its body, got {found.ids}")
    target = found.ids[0]
    body = client.request(
        EmailGet(ids=[target], properties=["subject", "textBody", "bodyValues"], fetch_text_body_values=True),
        raise_errors=True,
    )
    message = body.data[0]
    check(message.text_body, "a text body part")
    text = message.body_values[message.text_body[0].part_id].value
    check(a.search in text, f"the body value holds {a.search!r}: {text!r}")
    seen["searched"] = message.subject

    # Push: an EventSource listener sees the keyword change below as a StateChange. jmapc
    # connects on the first `next` of its event generator; it keeps the connection in `_events`.
    states = []

    def listen():
        for event in client.events:
            states.append(event.data.changed)
            if any(getattr(ts, "email", None) for ts in event.data.changed.values()):
                return

    stream = threading.Thread(target=listen, daemon=True)
    stream.start()
    deadline = time.monotonic() + 10
    while client._events is None and time.monotonic() < deadline:
        time.sleep(0.05)
    check(client._events is not None, "the EventSource stream opened")

    # Flag the found message (a keyword patch).
    flagged = client.request(EmailSet(update={target: {"keywords/$flagged": True}}), raise_errors=True)
    check(target in (flagged.updated or {}), f"keyword set: {flagged}")
    got = client.request(EmailGet(ids=[target], properties=["keywords"]), raise_errors=True)
    check(got.data[0].keywords.get("$flagged") is True, f"keywords now {got.data[0].keywords}")
    seen["flagged"] = target

    stream.join(15)
    check(any(account in c for c in states), f"a StateChange for the account after Email/set, got {states}")

    # Send: a draft in Drafts, submitted; on success it moves to Sent without $draft.
    identities = client.request(IdentityGet(ids=None), raise_errors=True)
    identity = next((i for i in identities.data if i.email == a.user), None)
    check(identity is not None, f"an identity for {a.user}")
    subject = "Sent with jmapc"
    draft = Email(
        mail_from=[EmailAddress(name="Ann", email=a.user)],
        to=[EmailAddress(email=a.to)],
        subject=subject,
        keywords={"$draft": True, "$seen": True},
        mailbox_ids={drafts.id: True},
        body_values={"text": EmailBodyValue(value="Hello from jmapc.\n")},
        text_body=[EmailBodyPart(part_id="text", type="text/plain")],
    )
    result = client.request(
        [
            EmailSet(create={"draft": draft}),
            EmailSubmissionSet(
                create={
                    "send": EmailSubmission(
                        identity_id=identity.id,
                        email_id="#draft",
                        envelope=Envelope(mail_from=Address(email=a.user), rcpt_to=[Address(email=a.to)]),
                    )
                },
                on_success_update_email={
                    "#send": {
                        f"mailboxIds/{drafts.id}": None,
                        f"mailboxIds/{sent.id}": True,
                        "keywords/$draft": None,
                    }
                },
            ),
        ],
        raise_errors=True,
    )
    names = [type(r.response).__name__ for r in result]
    check(len(result) == 3, f"Email/set, EmailSubmission/set and the implicit Email/set: {names}")
    created, submitted, moved = (r.response for r in result)
    check(created.created and "draft" in created.created, f"draft created: {created}")
    email_id = created.created["draft"].id
    check(submitted.created and "send" in submitted.created, f"submission created: {submitted}")
    check(moved.updated and email_id in moved.updated, f"implicit Email/set updated the draft: {moved}")
    after = client.request(EmailGet(ids=[email_id], properties=["mailboxIds", "keywords"]), raise_errors=True)
    e = after.data[0]
    check(e.mailbox_ids == {sent.id: True}, f"the sent message is in Sent only: {e.mailbox_ids}")
    check("$draft" not in (e.keywords or {}), f"no $draft any more: {e.keywords}")
    seen["sent"] = email_id

    print(json.dumps(seen))
    print("jmapc: all steps passed")


if __name__ == "__main__":
    main()
