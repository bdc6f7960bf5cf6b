//! CalDAV and CardDAV over raw HTTP on SQLite and PostgreSQL: discovery, calendars, task lists
//! and address books, preconditions, reports, sync, and sharing with each role.

#![allow(clippy::unwrap_used)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, Store};

both_stores!(
    discovery_crud_reports_and_sync,
    sharing_gives_exactly_the_role,
    acl_and_colleague_lookup,
    recurrence_time_ranges_expand_and_free_busy,
    address_book_search_over_many_cards,
    a_big_listing_comes_whole_and_in_order
);

const CAL: &str = "urn:ietf:params:xml:ns:caldav";

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kontor-test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n\
         DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

struct User<'a> {
    server: &'a Server,
    name: &'a str,
    password: &'a str,
}

impl User<'_> {
    fn req(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.server.url)
        } else {
            format!("{}/dav/{path}", self.server.url)
        };
        reqwest::Client::new()
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
            .basic_auth(self.name, Some(self.password))
    }

    async fn propfind(&self, path: &str, depth: &str, props: &str) -> String {
        let r = self
            .req("PROPFIND", path)
            .header("depth", depth)
            .body(format!("<D:propfind xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\" xmlns:R=\"urn:ietf:params:xml:ns:carddav\" xmlns:S=\"http://calendarserver.org/ns/\"><D:prop>{props}</D:prop></D:propfind>"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MULTI_STATUS, "PROPFIND {path}");
        r.text().await.unwrap()
    }

    /// A REPORT and the text of its answer.
    async fn report(&self, path: &str, body: impl Into<reqwest::Body>) -> String {
        self.req("REPORT", path).body(body).send().await.unwrap().text().await.unwrap()
    }

    async fn put(&self, path: &str, body: String) -> reqwest::Response {
        self.req("PUT", path).header("content-type", "text/calendar").body(body).send().await.unwrap()
    }
}

fn setup(store: &Store) -> Server {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["domain", "add", "other.org"], None);
    for (u, pw) in
        [("ann@example.com", "anns password"), ("bob@example.com", "bobs password"), ("eve@other.org", "eves password")]
    {
        store.ok(&["user", "add", u, "--password-stdin"], Some(&format!("{pw}\n")));
    }
    Server::start(store, &[])
}

async fn discovery_crud_reports_and_sync(store: &Store) {
    let server = setup(store);
    let ann = User { server: &server, name: "ann@example.com", password: "anns password" };
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/.well-known/caldav", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers()["location"], "/dav/");
    let root = ann.propfind("/dav/", "0", "<D:current-user-principal/>").await;
    assert!(root.contains("<D:href>/dav/principals/ann@example.com/</D:href>"), "{root}");
    // Clients given only the server URL ask its root.
    let root = ann.propfind("/", "0", "<D:current-user-principal/>").await;
    assert!(root.contains("<D:href>/dav/principals/ann@example.com/</D:href>"), "{root}");
    let principal =
        ann.propfind("principals/ann@example.com/", "0", "<C:calendar-home-set/><R:addressbook-home-set/>").await;
    assert!(
        principal.contains("/dav/calendars/ann@example.com/")
            && principal.contains("/dav/addressbooks/ann@example.com/"),
        "{principal}"
    );
    // A new user has a calendar, a task list and an address book.
    let home =
        ann.propfind("calendars/ann@example.com/", "1", "<D:resourcetype/><C:supported-calendar-component-set/>").await;
    assert!(
        home.contains("calendars/ann@example.com/calendar/") && home.contains("calendars/ann@example.com/tasks/"),
        "{home}"
    );
    let books = ann.propfind("addressbooks/ann@example.com/", "1", "<D:resourcetype/>").await;
    assert!(books.contains("addressbooks/ann@example.com/contacts/"), "{books}");

    // Events: create, preconditions, reports.
    assert_eq!(
        ann.put("calendars/ann@example.com/calendar/a.ics", event("a", "Alpha")).await.status(),
        StatusCode::CREATED
    );
    let r = ann.put("calendars/ann@example.com/calendar/dup.ics", event("a", "Same UID")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("no-uid-conflict"));
    let r = ann.put("calendars/ann@example.com/tasks/a.ics", event("t", "not a task")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("supported-calendar-component"));
    let r = ann.put("calendars/ann@example.com/calendar/bad.ics", "BEGIN:VCALENDAR\r\nnonsense".into()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("valid-calendar-data"));
    let todo = event("t1", "Write report")
        .replace("VEVENT", "VTODO")
        .replace("DTEND:20260302T110000Z\r\n", "DUE:20260303T000000Z\r\nPERCENT-COMPLETE:40\r\nPRIORITY:1\r\n");
    assert_eq!(ann.put("calendars/ann@example.com/tasks/t1.ics", todo.clone()).await.status(), StatusCode::CREATED);
    let got = ann.req("GET", "calendars/ann@example.com/tasks/t1.ics").send().await.unwrap().text().await.unwrap();
    assert_eq!(got, todo, "what a client PUTs is what it GETs");

    let r = ann.req("MKCALENDAR", "calendars/ann@example.com/work/")
        .body(format!("<C:mkcalendar xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:set><D:prop><D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>"))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(ann.propfind("calendars/ann@example.com/work/", "0", "<D:displayname/>").await.contains(">Work<"));

    let multiget = format!(
        "<C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:prop><D:getetag/><C:calendar-data/></D:prop>\
        <D:href>/dav/calendars/ann@example.com/calendar/a.ics</D:href><D:href>/dav/calendars/ann@example.com/calendar/none.ics</D:href></C:calendar-multiget>"
    );
    let text = ann.report("calendars/ann@example.com/calendar/", multiget).await;
    assert!(text.contains("SUMMARY:Alpha") && text.contains("HTTP/1.1 404"), "{text}");
    let query = format!(
        "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VTODO\"/></C:comp-filter></C:filter></C:calendar-query>"
    );
    let text = ann.report("calendars/ann@example.com/tasks/", query).await;
    assert!(text.contains("tasks/t1.ics"), "{text}");

    // Sync: first sync (no tombstones), then changes with a limit.
    let sync = |token: &str, limit: &str| {
        format!(
            "<D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{limit}<D:prop><D:getetag/></D:prop></D:sync-collection>"
        )
    };
    let first = ann.report("calendars/ann@example.com/calendar/", sync("", "")).await;
    assert!(first.contains("calendar/a.ics") && !first.contains("404"), "{first}");
    let token = first.split("<D:sync-token>").nth(1).unwrap().split('<').next().unwrap().to_owned();
    for n in 0..3 {
        ann.put(&format!("calendars/ann@example.com/calendar/n{n}.ics"), event(&format!("n{n}"), "new")).await;
    }
    assert_eq!(
        ann.req("DELETE", "calendars/ann@example.com/calendar/a.ics").send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let page = ann
        .report("calendars/ann@example.com/calendar/", sync(&token, "<D:limit><D:nresults>2</D:nresults></D:limit>"))
        .await;
    assert!(page.contains("HTTP/1.1 507"), "truncated: {page}");
    let next = page.split("<D:sync-token>").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let rest = ann.report("calendars/ann@example.com/calendar/", sync(&next, "")).await;
    let all = format!("{page}{rest}");
    for n in 0..3 {
        assert!(all.contains(&format!("calendar/n{n}.ics")), "{all}");
    }
    assert!(rest.contains("calendar/a.ics</D:href><D:status>HTTP/1.1 404"), "tombstone: {rest}");
    let r = ann
        .req("REPORT", "calendars/ann@example.com/calendar/")
        .body(sync("urn:kontor:sync:k1-999-1", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("valid-sync-token"));

    // Moving an event into the task list would bypass its rules: refused, nothing moved.
    let r = ann
        .req("MOVE", "calendars/ann@example.com/calendar/n0.ics")
        .header("destination", format!("{}/dav/calendars/ann@example.com/tasks/n0.ics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ann.req("GET", "calendars/ann@example.com/calendar/n0.ics").send().await.unwrap().status(),
        StatusCode::OK
    );
    let r = ann
        .req("MOVE", "calendars/ann@example.com/calendar/n0.ics")
        .header("destination", format!("{}/dav/files/ann@example.com/n0.ics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no moves between homes");

    // vCards.
    let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c1\r\nFN:Carla Contact\r\nEMAIL:carla@example.org\r\nEND:VCARD\r\n";
    let r = ann.req("PUT", "addressbooks/ann@example.com/contacts/c1.vcf").body(card).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = ann
        .req("PUT", "addressbooks/ann@example.com/contacts/x.vcf")
        .body("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No UID\r\nEND:VCARD\r\n")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("valid-address-data"));
    let q = "<R:addressbook-query xmlns:D=\"DAV:\" xmlns:R=\"urn:ietf:params:xml:ns:carddav\"><D:prop><R:address-data/></D:prop><R:filter><R:prop-filter name=\"EMAIL\"><R:text-match>CARLA@</R:text-match></R:prop-filter></R:filter></R:addressbook-query>";
    let text = ann.report("addressbooks/ann@example.com/contacts/", q).await;
    assert!(text.contains("FN:Carla Contact"), "{text}");
    // The version asked for (RFC 6352 §10.4): stored as 4.0, given as 3.0 on request.
    let v3 = q.replace("<R:address-data/>", "<R:address-data content-type=\"text/vcard\" version=\"3.0\"/>");
    let text = ann.report("addressbooks/ann@example.com/contacts/", v3).await;
    assert!(
        text.contains("VERSION:3.0") && !text.contains("VERSION:4.0") && text.contains("carla@example.org"),
        "{text}"
    );
    // Only the properties asked for (RFC 6352 §10.4.2), VERSION kept, in the version asked for.
    let some = q.replace(
        "<R:address-data/>",
        "<R:address-data version=\"3.0\"><R:prop name=\"EMAIL\"/><R:prop name=\"UID\"/></R:address-data>",
    );
    let text = ann.report("addressbooks/ann@example.com/contacts/", some).await;
    assert!(
        text.contains("BEGIN:VCARD\r\nVERSION:3.0\r\n")
            && text.contains("carla@example.org")
            && text.contains("UID:c1")
            && !text.contains("FN:"),
        "{text}"
    );
    let r = ann
        .req("REPORT", "addressbooks/ann@example.com/contacts/")
        .body(q.replace("<R:address-data/>", "<R:address-data content-type=\"application/vcard+json\"/>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("supported-address-data-conversion"));
}

async fn sharing_gives_exactly_the_role(store: &Store) {
    let server = setup(store);
    let ann = User { server: &server, name: "ann@example.com", password: "anns password" };
    let bob = User { server: &server, name: "bob@example.com", password: "bobs password" };
    assert_eq!(
        ann.put("calendars/ann@example.com/calendar/ann.ics", event("ann-1", "Ann's meeting")).await.status(),
        StatusCode::CREATED
    );
    let share = |role: &str, grantee: &str| {
        reqwest::Client::new()
            .post(format!("{}/api/shares", server.url))
            .basic_auth("ann@example.com", Some("anns password"))
            .json(&json!({ "url": "/dav/calendars/ann@example.com/calendar/", "grantee": grantee, "role": role }))
            .send()
    };

    // Bob sees nothing of Ann's until she shares.
    assert_eq!(
        bob.req("GET", "calendars/ann@example.com/calendar/ann.ics").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert!(!bob.propfind("calendars/bob@example.com/", "1", "<D:displayname/>").await.contains("shared-"));
    // Bad requests to the API get problem+json, like every API error.
    let r = reqwest::Client::new()
        .post(format!("{}/api/shares", server.url))
        .basic_auth("ann@example.com", Some("anns password"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = reqwest::Client::new()
        .post(format!("{}/api/shares", server.url))
        .basic_auth("ann@example.com", Some("anns password"))
        .json(&json!({ "url": "/dav/calendars/ann@example.com/calendar/", "grantee": "bob@example.com", "role": "emperor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Grants stay inside the domain.
    assert_eq!(share("reviewer", "eve@other.org").await.unwrap().status(), StatusCode::FORBIDDEN);

    // Reviewer: the calendar appears in Bob's own home; he reads, he may not write.
    let r = share("reviewer", "bob@example.com").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "reviewer");
    let home = bob.propfind("calendars/bob@example.com/", "1", "<D:displayname/><D:current-user-privilege-set/>").await;
    let shared =
        home.split("<D:href>").find(|h| h.contains("shared-")).expect("shared calendar listed in the grantee's home");
    let shared_href = shared.split('<').next().unwrap().to_owned();
    let block = &home[home.find(&shared_href).unwrap()..];
    let block = &block[..block.find("</D:response>").unwrap()];
    assert!(block.contains(">Calendar<") && block.contains("<D:read/>") && !block.contains("<D:bind/>"), "{block}");
    let mine = format!("{shared_href}ann.ics");
    assert!(bob.req("GET", &mine).send().await.unwrap().text().await.unwrap().contains("Ann's meeting"));
    let r = bob.put(&format!("{shared_href}bob.ics"), event("bob-1", "Bob's")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("need-privileges"));

    // A reviewer may not lock (a lock would keep Ann from writing).
    let lock = "<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    assert_eq!(bob.req("LOCK", &mine).body(lock).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    // Author: creates and changes its own, not Ann's.
    share("author", "bob@example.com").await.unwrap();
    assert_eq!(bob.put(&format!("{shared_href}bob.ics"), event("bob-1", "Bob's")).await.status(), StatusCode::CREATED);
    assert_eq!(
        bob.put(&format!("{shared_href}bob.ics"), event("bob-1", "Bob's, edited")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(bob.put(&mine, event("ann-1", "hijacked")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(bob.req("DELETE", &mine).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    // Editor: changes Ann's too.
    share("editor", "bob@example.com").await.unwrap();
    assert_eq!(bob.put(&mine, event("ann-1", "moved by Bob")).await.status(), StatusCode::NO_CONTENT);
    let got = ann.req("GET", "calendars/ann@example.com/calendar/ann.ics").send().await.unwrap().text().await.unwrap();
    assert!(got.contains("moved by Bob"));

    // Revoked: gone from Bob's home and unreachable.
    share("none", "bob@example.com").await.unwrap();
    assert!(!bob.propfind("calendars/bob@example.com/", "1", "<D:displayname/>").await.contains("shared-"));
    assert_eq!(bob.req("GET", &mine).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let list: Value = reqwest::Client::new()
        .get(format!("{}/api/shares", server.url))
        .basic_auth("ann@example.com", Some("anns password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["given"], json!([]));
}

async fn acl_and_colleague_lookup(store: &Store) {
    let server = setup(store);
    let ann = User { server: &server, name: "ann@example.com", password: "anns password" };
    let bob = User { server: &server, name: "bob@example.com", password: "bobs password" };

    // Colleagues are found by name or address, only in the same domain.
    let search = |m: &str| {
        format!(
            "<D:principal-property-search xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:property-search><D:prop><D:displayname/><C:calendar-user-address-set/></D:prop><D:match>{m}</D:match></D:property-search><D:prop><D:displayname/><C:calendar-home-set/></D:prop></D:principal-property-search>"
        )
    };
    let r = bob.req("REPORT", "/dav/principals/").header("depth", "0").body(search("ANN")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("/dav/principals/ann@example.com/") && text.contains("/dav/calendars/ann@example.com/"),
        "{text}"
    );
    let text = bob.req("REPORT", "/dav/principals/").body(search("eve")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("eve@other.org"), "other domains stay invisible: {text}");
    let set = bob.report("/dav/principals/", "<D:principal-search-property-set xmlns:D=\"DAV:\"/>").await;
    assert!(set.contains("displayname"), "{set}");

    // ACL: the owner grants read to Bob over WebDAV ACL.
    assert_eq!(
        ann.put("calendars/ann@example.com/calendar/x.ics", event("x", "Shared by ACL")).await.status(),
        StatusCode::CREATED
    );
    let ace = |who: &str, body: &str| {
        format!(
            "<D:acl xmlns:D=\"DAV:\"><D:ace><D:principal><D:href>/dav/principals/{who}/</D:href></D:principal>{body}</D:ace></D:acl>"
        )
    };
    let r = ann
        .req("ACL", "calendars/ann@example.com/calendar/")
        .body(ace("bob@example.com", "<D:grant><D:privilege><D:read/></D:privilege></D:grant>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        bob.req("GET", "calendars/ann@example.com/calendar/x.ics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("Shared by ACL")
    );
    let acl = ann
        .propfind(
            "calendars/ann@example.com/calendar/",
            "0",
            "<D:acl/><D:acl-restrictions/><D:supported-privilege-set/>",
        )
        .await;
    assert!(acl.contains("/dav/principals/bob@example.com/") && acl.contains("grant-only"), "{acl}");
    let r = ann
        .req("ACL", "calendars/ann@example.com/calendar/")
        .body(ace("bob@example.com", "<D:deny><D:privilege><D:read/></D:privilege></D:deny>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("grant-only"));
    let r = ann
        .req("ACL", "calendars/ann@example.com/calendar/")
        .body(ace("eve@other.org", "<D:grant><D:privilege><D:read/></D:privilege></D:grant>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Bob may not change the ACL; an empty ACL revokes.
    let r =
        bob.req("ACL", "calendars/ann@example.com/calendar/").body("<D:acl xmlns:D=\"DAV:\"/>").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ann.req("ACL", "calendars/ann@example.com/calendar/")
            .body("<D:acl xmlns:D=\"DAV:\"/>")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        bob.req("GET", "calendars/ann@example.com/calendar/x.ics").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

/// A calendar-query for VEVENTs in [start, end): the hrefs it returns.
async fn events_between(user: &User<'_>, path: &str, start: &str, end: &str, data: &str) -> String {
    let r = user
        .req("REPORT", path)
        .header("depth", "1")
        .body(format!(
            "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:prop><D:getetag/>{data}</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\"><C:time-range start=\"{start}\" end=\"{end}\"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    r.text().await.unwrap()
}

async fn recurrence_time_ranges_expand_and_free_busy(store: &Store) {
    let server = setup(store);
    let ann = User { server: &server, name: "ann@example.com", password: "anns password" };
    let bob = User { server: &server, name: "bob@example.com", password: "bobs password" };
    let cal = "calendars/ann@example.com/calendar/";
    // Weekly at 09:00 Berlin time from Thursday 19 March 2026, across the DST change of
    // 29 March; the 26 March instance is moved to 14:00, 9 April is cancelled.
    let weekly = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kontor-test//EN\r\n{BERLIN}BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260319T090000\r\nDTEND;TZID=Europe/Berlin:20260319T100000\r\nRRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Berlin:20260409T090000\r\nSUMMARY:Jour fixe\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:soon\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260326T090000\r\nDTSTART;TZID=Europe/Berlin:20260326T140000\r\nDTEND;TZID=Europe/Berlin:20260326T150000\r\nSUMMARY:Jour fixe (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    assert_eq!(ann.put(&format!("{cal}weekly.ics"), weekly).await.status(), StatusCode::CREATED);
    let all_day = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kontor-test//EN\r\nBEGIN:VEVENT\r\nUID:holiday\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260501\r\nSUMMARY:Holiday\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(ann.put(&format!("{cal}holiday.ics"), all_day.into()).await.status(), StatusCode::CREATED);
    assert_eq!(ann.put(&format!("{cal}a.ics"), event("single", "Once")).await.status(), StatusCode::CREATED);

    // After the DST change the instance is at 07:00Z, before it at 08:00Z.
    let got = events_between(&ann, cal, "20260402T070000Z", "20260402T073000Z", "").await;
    assert!(got.contains("weekly.ics") && !got.contains("a.ics"), "{got}");
    assert!(!events_between(&ann, cal, "20260402T080000Z", "20260402T090000Z", "").await.contains("weekly.ics"));
    assert!(events_between(&ann, cal, "20260319T080000Z", "20260319T081000Z", "").await.contains("weekly.ics"));
    // The moved instance is where it went; the cancelled one is gone; the rule never ends.
    assert!(!events_between(&ann, cal, "20260326T080000Z", "20260326T090000Z", "").await.contains("weekly.ics"));
    assert!(events_between(&ann, cal, "20260326T130000Z", "20260326T131000Z", "").await.contains("weekly.ics"));
    assert!(!events_between(&ann, cal, "20260409T000000Z", "20260410T000000Z", "").await.contains("weekly.ics"));
    assert!(events_between(&ann, cal, "20290104T000000Z", "20290111T000000Z", "").await.contains("weekly.ics"));
    // A VTIMEZONE under a name no zone has (New York's rules): its DST switch is followed.
    let office = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kontor-test//EN\r\nBEGIN:VTIMEZONE\r\nTZID:My Office\r\nBEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:office\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=My Office:20260302T090000\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(ann.put(&format!("{cal}office.ics"), office.into()).await.status(), StatusCode::CREATED);
    assert!(events_between(&ann, cal, "20260302T140000Z", "20260302T141000Z", "").await.contains("office.ics"));
    assert!(events_between(&ann, cal, "20260309T130000Z", "20260309T131000Z", "").await.contains("office.ics"));
    assert!(!events_between(&ann, cal, "20260309T090000Z", "20260309T100000Z", "").await.contains("office.ics"));
    // All day on 1 May (read in UTC: this calendar has no time zone).
    let may = events_between(&ann, cal, "20260501T120000Z", "20260501T130000Z", "").await;
    assert!(may.contains("holiday.ics") && !may.contains("weekly.ics"), "{may}");
    assert!(!events_between(&ann, cal, "20260502T000000Z", "20260502T010000Z", "").await.contains("holiday.ics"));
    // A bad range is the client's mistake.
    let r = ann
        .req("REPORT", cal)
        .body(format!("<C:calendar-query xmlns:C=\"{CAL}\"><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\"><C:time-range start=\"tomorrow\"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("valid-filter"));
    // RFC 4791 §9.9 has no time-range for the VCALENDAR itself.
    let r = ann
        .req("REPORT", cal)
        .body(format!("<C:calendar-query xmlns:C=\"{CAL}\"><C:filter><C:comp-filter name=\"VCALENDAR\"><C:time-range start=\"20260101T000000Z\"/></C:comp-filter></C:filter></C:calendar-query>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // expand: one VEVENT per instance in the window, in UTC, no rules, overrides merged.
    let expanded = events_between(
        &ann,
        cal,
        "20260325T000000Z",
        "20260403T000000Z",
        "<C:calendar-data><C:expand start=\"20260325T000000Z\" end=\"20260403T000000Z\"/></C:calendar-data>",
    )
    .await;
    assert_eq!(expanded.matches("BEGIN:VEVENT").count(), 2, "{expanded}");
    for line in [
        "DTSTART:20260326T130000Z",
        "RECURRENCE-ID:20260326T080000Z",
        "DTSTART:20260402T070000Z",
        "DTEND:20260402T080000Z",
        "RECURRENCE-ID:20260402T070000Z",
        "Jour fixe (moved)",
    ] {
        assert!(expanded.contains(line), "{line} in {expanded}");
    }
    assert!(!expanded.contains("RRULE") && !expanded.contains("VTIMEZONE"), "{expanded}");
    // Partial retrieval (RFC 4791 §9.6.1), after the expansion: only the named parts.
    let partial = events_between(
        &ann,
        cal,
        "20260325T000000Z",
        "20260403T000000Z",
        "<C:calendar-data><C:comp name=\"VCALENDAR\"><C:prop name=\"VERSION\"/><C:comp name=\"VEVENT\"><C:prop name=\"SUMMARY\"/><C:prop name=\"DTSTART\"/><C:prop name=\"UID\" novalue=\"yes\"/></C:comp></C:comp><C:expand start=\"20260325T000000Z\" end=\"20260403T000000Z\"/></C:calendar-data>",
    )
    .await;
    assert_eq!(partial.matches("BEGIN:VEVENT").count(), 2, "{partial}");
    for (line, wanted) in [
        ("VERSION:2.0", true),
        ("DTSTART:20260402T070000Z", true),
        ("SUMMARY:Jour fixe (moved)", true),
        ("UID:\r\n", true),
        ("UID:weekly", false),
        ("PRODID", false),
        ("DTEND", false),
        ("RECURRENCE-ID", false),
        ("VALARM", false),
    ] {
        assert_eq!(partial.contains(line), wanted, "{line} in {partial}");
    }
    let r = ann
        .req("REPORT", cal)
        .header("depth", "1")
        .body(format!(
            "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:prop><C:calendar-data><C:comp/></C:calendar-data></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/></C:filter></C:calendar-query>"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a comp element needs a name");
    // limit-recurrence-set keeps the master and only the overrides that matter.
    let limited = events_between(
        &ann,
        cal,
        "20260401T000000Z",
        "20260403T000000Z",
        "<C:calendar-data><C:limit-recurrence-set start=\"20260401T000000Z\" end=\"20260403T000000Z\"/></C:calendar-data>",
    )
    .await;
    assert!(limited.contains("RRULE:FREQ=WEEKLY") && !limited.contains("(moved)"), "{limited}");

    // free-busy-query: busy time, transparent events left out.
    let fb_query = format!(
        "<C:free-busy-query xmlns:C=\"{CAL}\"><C:time-range start=\"20260301T000000Z\" end=\"20260502T000000Z\"/></C:free-busy-query>"
    );
    let r = ann.req("REPORT", cal).header("depth", "1").body(fb_query.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let fb = r.text().await.unwrap();
    for line in
        ["BEGIN:VFREEBUSY", "FREEBUSY:20260302T100000Z/20260302T110000Z", "FREEBUSY:20260402T070000Z/20260402T080000Z"]
    {
        assert!(fb.contains(line), "{line} in {fb}");
    }
    assert!(!fb.contains("20260501") && !fb.contains("20260409T070000Z"), "{fb}");

    // A free/busy grant: Bob sees busy times and nothing else.
    let r = reqwest::Client::new()
        .post(format!("{}/api/shares", server.url))
        .basic_auth("ann@example.com", Some("anns password"))
        .json(&json!({ "url": format!("/dav/{cal}"), "grantee": "bob@example.com", "role": "free-busy" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = bob.req("REPORT", cal).header("depth", "1").body(fb_query).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bobs = r.text().await.unwrap();
    assert!(bobs.contains("FREEBUSY:20260402T070000Z/20260402T080000Z") && !bobs.contains("Jour fixe"), "{bobs}");
    let r = bob
        .req("REPORT", cal)
        .header("depth", "1")
        .body(format!("<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"{CAL}\"><D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/></C:filter></C:calendar-query>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let denied = r.text().await.unwrap();
    assert!(denied.contains("need-privileges") && !denied.contains("Jour fixe"), "{denied}");
    assert_eq!(bob.req("GET", &format!("{cal}weekly.ics")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // Not even an item's metadata, or whether a name exists.
    for name in ["weekly.ics", "no-such.ics"] {
        let r = bob
            .req("PROPFIND", &format!("{cal}{name}"))
            .header("depth", "0")
            .body("<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/><D:getcontentlength/></D:prop></D:propfind>")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}");
        let r = bob.req("GET", &format!("{cal}{name}")).header("if-none-match", "*").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}");
    }
    let listing = bob.propfind(cal, "1", "<D:getetag/>").await;
    assert!(!listing.contains("weekly.ics"), "{listing}");
}

/// addressbook-query text-match over an address book big enough for the searchable-text
/// path: folded lines, other scripts and case, a match only in another property, and the
/// answer following every change.
async fn address_book_search_over_many_cards(store: &Store) {
    let server = setup(store);
    let ann = User { server: &server, name: "ann@example.com", password: "anns password" };
    let book = "addressbooks/ann@example.com/contacts/";
    let put = |name: String, card: String| {
        let ann = &ann;
        async move {
            let r = ann.req("PUT", &format!("{book}{name}")).body(card).send().await.unwrap();
            assert!(r.status().is_success(), "{name}: {}", r.status());
        }
    };
    for i in 0..80 {
        let fn_ = match i {
            3 => "Zoë Müller".to_owned(),
            4 => "Hans MÜLLER".to_owned(),
            5 => "Folded Mül\r\n ler".to_owned(),
            _ => format!("Person {i}"),
        };
        let note = if i == 6 { "NOTE:müller is a friend\r\n" } else { "" };
        put(
            format!("c{i}.vcf"),
            format!("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:card-{i}\r\nFN:{fn_}\r\n{note}END:VCARD\r\n"),
        )
        .await;
    }
    let search = |text: &'static str| {
        let ann = &ann;
        async move {
            let body = format!(
                "<R:addressbook-query xmlns:D=\"DAV:\" xmlns:R=\"urn:ietf:params:xml:ns:carddav\"><D:prop><D:getetag/></D:prop><R:filter><R:prop-filter name=\"FN\"><R:text-match collation=\"i;unicode-casemap\" match-type=\"contains\">{text}</R:text-match></R:prop-filter></R:filter></R:addressbook-query>"
            );
            let answer = ann.report(book, body).await;
            let mut found: Vec<String> = answer
                .split("<D:href>")
                .skip(1)
                .filter_map(|h| h.split("</D:href>").next())
                .filter_map(|h| h.rsplit('/').next().map(str::to_owned))
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(
        search("müller").await,
        ["c3.vcf", "c4.vcf", "c5.vcf"],
        "case, other scripts and folding; NOTE is not FN"
    );
    assert_eq!(
        search("PERSON 7").await,
        [
            "c7.vcf", "c70.vcf", "c71.vcf", "c72.vcf", "c73.vcf", "c74.vcf", "c75.vcf", "c76.vcf", "c77.vcf",
            "c78.vcf", "c79.vcf"
        ]
    );
    assert!(search("nobody").await.is_empty());
    // Changes show at once: a rename into the result, a removal out of it.
    put("c10.vcf".into(), "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:card-10\r\nFN:Maria Müller\r\nEND:VCARD\r\n".into()).await;
    let r = ann.req("DELETE", &format!("{book}c4.vcf")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(search("müller").await, ["c10.vcf", "c3.vcf", "c5.vcf"]);
}

/// PROPFIND Depth 1 on a collection of more items than one piece of the streamed body: every
/// member once, in name order, with its ETag from the PUT, percent-encoded hrefs, and a
/// well-formed document; a property the rows do not answer takes the general way, same items.
async fn a_big_listing_comes_whole_and_in_order(store: &Store) {
    let server = setup(store);
    let ann = User { server: &server, name: "ann@example.com", password: "anns password" };
    let book = "addressbooks/ann@example.com/contacts/";
    let mut etags = std::collections::BTreeMap::new();
    for i in 0..300 {
        let name = format!("card {i:03}&x.vcf");
        let card = format!("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:big-{i}\r\nFN:Person {i}\r\nEND:VCARD\r\n");
        let path = format!("{book}card%20{i:03}%26x.vcf");
        let r = ann.req("PUT", &path).body(card).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{name}");
        etags.insert(name, r.headers()["etag"].to_str().unwrap().to_owned());
    }
    let members = |answer: &str| -> Vec<(String, Option<String>)> {
        let mut reader = quick_xml::Reader::from_str(answer);
        let (mut out, mut text, mut in_href, mut in_etag) = (Vec::new(), String::new(), false, false);
        loop {
            match reader.read_event().expect("well-formed multistatus") {
                quick_xml::events::Event::Start(e) => {
                    in_href = e.local_name().as_ref() == b"href";
                    in_etag = e.local_name().as_ref() == b"getetag";
                    text.clear();
                }
                quick_xml::events::Event::Text(t) => text.push_str(&t.xml10_content().unwrap()),
                quick_xml::events::Event::GeneralRef(r) => {
                    text.push(r.resolve_char_ref().unwrap().unwrap_or(match &*r.decode().unwrap() {
                        "quot" => '"',
                        "amp" => '&',
                        other => panic!("entity {other}"),
                    }));
                }
                quick_xml::events::Event::End(_) if in_href => {
                    out.push((text.clone(), None));
                    in_href = false;
                }
                quick_xml::events::Event::End(_) if in_etag => {
                    out.last_mut().unwrap().1 = Some(text.clone());
                    in_etag = false;
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        out
    };
    let base = "/dav/addressbooks/ann@example.com/contacts/";
    let expected: Vec<(String, Option<String>)> = etags
        .iter()
        .map(|(name, etag)| (format!("{base}{}", name.replace(' ', "%20").replace('&', "%26")), Some(etag.clone())))
        .collect();
    let answer = ann.propfind(book, "1", "<D:getetag/><D:getcontenttype/><D:resourcetype/>").await;
    let got = members(&answer);
    assert_eq!(got.len(), 301, "the collection and its 300 cards");
    assert_eq!(got[0].0, base);
    assert_eq!(got[1..], expected[..]);
    assert_eq!(answer.matches("<D:getcontenttype>text/vcard").count(), 300, "{}", &answer[..2000]);
    // displayname is not an item row's: the general way gives the same members.
    let answer = ann.propfind(book, "1", "<D:getetag/><D:displayname/>").await;
    assert_eq!(members(&answer)[1..], expected[..]);
    assert_eq!(answer.matches("<D:displayname/>").count(), 300, "not found on every card");
}
