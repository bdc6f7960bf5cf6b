//! JMAP Contacts (RFC 9610) and Calendars (draft) end to end, on SQLite and PostgreSQL, against
//! CardDAV and CalDAV on the same items: a card or event written over JMAP is read over DAV and
//! the other way round, changes over DAV show up in /changes, CalendarEvent/query finds a
//! recurring event by one of its instances, and sharing gives exactly the role.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, Store};

both_stores!(contacts_both_ways, calendars_both_ways, errors_and_sharing);

const USING: [&str; 3] =
    ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:contacts", "urn:ietf:params:jmap:calendars"];

fn setup(store: &Store) -> Server {
    store.ok(&["domain", "add", "example.com"], None);
    for user in ["ann@example.com", "bob@example.com", "eve@example.com"] {
        let name = user.split('@').next().unwrap();
        store.ok(&["user", "add", user, "--password-stdin"], Some(&format!("{name}s password\n")));
    }
    Server::start(store, &[])
}

struct Client {
    http: reqwest::Client,
    url: String,
    user: String,
    password: String,
    session: Value,
    account: String,
}

impl Client {
    async fn login(server: &Server, user: &str) -> Self {
        let http = reqwest::Client::new();
        let password = format!("{}s password", user.split('@').next().unwrap());
        let r = http.get(format!("{}/.well-known/jmap", server.url)).basic_auth(user, Some(&password)).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        let session: Value = r.json().await.unwrap();
        let account = session["primaryAccounts"]["urn:ietf:params:jmap:contacts"].as_str().unwrap().to_owned();
        Self { http, url: server.url.clone(), user: user.into(), password, session, account }
    }

    /// This user's principal id (for `shareWith`): the account's number after a `p`.
    fn principal(&self) -> String {
        format!("p{}", &self.account[1..])
    }

    async fn calls_using(&self, using: &[&str], calls: &[(&str, Value)]) -> Vec<Value> {
        let calls: Vec<Value> =
            calls.iter().enumerate().map(|(n, (name, args))| json!([name, args, format!("c{n}")])).collect();
        let r = self
            .http
            .post(self.session["apiUrl"].as_str().unwrap())
            .basic_auth(&self.user, Some(&self.password))
            .json(&json!({ "using": using, "methodCalls": calls }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["methodResponses"].as_array().unwrap().clone()
    }

    /// One method call in this user's account (unless the arguments name another).
    async fn call(&self, name: &str, mut args: Value) -> Value {
        if args.get("accountId").is_none() {
            args["accountId"] = json!(self.account);
        }
        let r = self.calls_using(&USING, &[(name, args)]).await;
        assert_eq!(r[0][0], name, "{r:?}");
        r[0][1].clone()
    }

    /// A call that must fail as a whole; its error type.
    async fn error(&self, name: &str, args: Value) -> String {
        let r = self.calls_using(&USING, &[(name, args)]).await;
        assert_eq!(r[0][0], "error", "{r:?}");
        r[0][1]["type"].as_str().unwrap().to_owned()
    }

    fn dav(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}/dav/{path}", self.url))
            .basic_auth(&self.user, Some(&self.password))
    }

    async fn dav_get(&self, path: &str) -> (StatusCode, String) {
        let r = self.dav("GET", path).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn dav_put(&self, path: &str, content_type: &str, body: &str) -> StatusCode {
        self.dav("PUT", path).header("content-type", content_type).body(body.to_owned()).send().await.unwrap().status()
    }
}

async fn contacts_both_ways(store: &Store) {
    let server = setup(store);
    let ann = Client::login(&server, "ann@example.com").await;
    let caps = &ann.session["accounts"][&ann.account]["accountCapabilities"];
    assert_eq!(caps["urn:ietf:params:jmap:contacts"]["maxAddressBooksPerCard"], 1, "{}", ann.session);

    let books = ann.call("AddressBook/get", json!({ "ids": null })).await;
    assert_eq!(books["list"].as_array().unwrap().len(), 1, "{books}");
    let book = books["list"][0].clone();
    assert_eq!((book["name"].as_str(), book["isDefault"].as_bool()), (Some("Contacts"), Some(true)));
    assert_eq!(book["myRights"]["mayWrite"], true);
    let book_id = book["id"].as_str().unwrap().to_owned();
    let state = books["state"].as_str().unwrap().to_owned();
    let q0 = ann.call("ContactCard/query", json!({})).await;
    assert_eq!(q0["canCalculateChanges"], true, "{q0}");

    // JMAP → CardDAV.
    let r = ann
        .call(
            "ContactCard/set",
            json!({ "create": { "x": {
                "addressBookIds": { &book_id: true },
                "uid": "jmap-card-1",
                "name": { "full": "Xavier Quinn", "components": [
                    { "kind": "given", "value": "Xavier" }, { "kind": "surname", "value": "Quinn" } ] },
                "emails": { "e1": { "address": "xq@example.org" } },
                "phones": { "p1": { "number": "+1 555 0199" } },
            }}}),
        )
        .await;
    let card_id = r["created"]["x"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let (status, vcard) = ann.dav_get("addressbooks/ann@example.com/contacts/jmap-card-1.vcf").await;
    assert_eq!(status, StatusCode::OK);
    assert!(vcard.contains("FN:Xavier Quinn") && vcard.contains("xq@example.org"), "{vcard}");
    assert!(vcard.contains("UID:jmap-card-1") && vcard.contains("555 0199"), "{vcard}");

    // CardDAV → JMAP: the new card shows up in /changes, with what the vCard says.
    let dav_card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dav-card-1\r\nFN:Dora Vance\r\nN:Vance;Dora;;;\r\n\
        EMAIL;TYPE=INTERNET,WORK:dora@example.net\r\nORG:Vance Ltd\r\nX-CUSTOM;X-P=1:kept\r\nEND:VCARD\r\n";
    let put = ann.dav_put("addressbooks/ann@example.com/contacts/dav-card.vcf", "text/vcard", dav_card).await;
    assert_eq!(put, StatusCode::CREATED);
    let changes = ann.call("ContactCard/changes", json!({ "sinceState": state })).await;
    let created: Vec<String> = serde_json::from_value(changes["created"].clone()).unwrap();
    assert_eq!(created.len(), 2, "{changes}");
    let dav_id = created.iter().find(|c| **c != card_id).unwrap().clone();
    // …and in /queryChanges: both cards added, each at its index in the results now.
    let qc = ann
        .call("ContactCard/queryChanges", json!({ "sinceQueryState": q0["queryState"], "calculateTotal": true }))
        .await;
    let now = ann.call("ContactCard/query", json!({})).await["ids"].clone();
    assert_eq!(qc["total"], json!(now.as_array().unwrap().len()), "{qc}");
    for id in [&card_id, &dav_id] {
        let entry =
            qc["added"].as_array().unwrap().iter().find(|a| a["id"] == json!(id)).unwrap_or_else(|| panic!("{qc}"));
        assert_eq!(now[entry["index"].as_u64().unwrap() as usize], json!(id), "{qc}");
    }
    let got = ann.call("ContactCard/get", json!({ "ids": [&dav_id] })).await;
    let card = &got["list"][0];
    assert_eq!(card["name"]["full"], "Dora Vance", "{got}");
    assert_eq!(card["uid"], "dav-card-1");
    assert_eq!(card["addressBookIds"], json!({ &book_id: true }));
    assert!(card["emails"].to_string().contains("dora@example.net"), "{got}");
    let only = ann.call("ContactCard/get", json!({ "ids": [&dav_id], "properties": ["uid"] })).await;
    assert_eq!(only["list"][0].as_object().unwrap().len(), 2, "id and uid only: {only}");

    // A JMAP change to the DAV card keeps its version and its X- property.
    let state = got["state"].as_str().unwrap().to_owned();
    let r = ann
        .call("ContactCard/set", json!({ "update": { &dav_id: { "nicknames": { "n1": { "name": "Dee" } } } } }))
        .await;
    assert!(r["updated"].get(&dav_id).is_some(), "{r}");
    let (_, vcard) = ann.dav_get("addressbooks/ann@example.com/contacts/dav-card.vcf").await;
    assert!(vcard.contains("VERSION:3.0") && vcard.contains("NICKNAME") && vcard.contains("Dee"), "{vcard}");
    assert!(vcard.contains("X-CUSTOM") && vcard.contains("dora@example.net"), "{vcard}");
    let changes = ann.call("ContactCard/changes", json!({ "sinceState": state })).await;
    assert_eq!(changes["updated"], json!([dav_id]), "{changes}");

    // Query.
    let q = ann.call("ContactCard/query", json!({ "filter": { "email": "dora@" } })).await;
    assert_eq!(q["ids"], json!([dav_id]));
    let q = ann.call("ContactCard/query", json!({ "filter": { "text": "quinn" } })).await;
    assert_eq!(q["ids"], json!([card_id]));
    let q = ann
        .call("ContactCard/query", json!({ "sort": [{ "property": "name/surname" }], "calculateTotal": true }))
        .await;
    assert_eq!((q["ids"].clone(), q["total"].clone()), (json!([card_id, dav_id]), json!(2)), "{q}");

    // Destroyed over JMAP: gone over CardDAV.
    let r = ann.call("ContactCard/set", json!({ "destroy": [&card_id] })).await;
    assert_eq!(r["destroyed"], json!([card_id]));
    let (status, _) = ann.dav_get("addressbooks/ann@example.com/contacts/jmap-card-1.vcf").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Address books: create, rename (CardDAV sees the name), move a card there, destroy.
    let r = ann
        .call("AddressBook/set", json!({ "create": { "b": { "name": "Suppliers", "description": "who sells" } } }))
        .await;
    let new_book = r["created"]["b"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let r = ann.call("AddressBook/set", json!({ "update": { &new_book: { "name": "Vendors" } } })).await;
    assert!(r["updated"].get(&new_book).is_some(), "{r}");
    let got = ann.call("AddressBook/get", json!({ "ids": [&new_book] })).await;
    assert_eq!(
        (got["list"][0]["name"].as_str(), got["list"][0]["description"].as_str()),
        (Some("Vendors"), Some("who sells"))
    );
    let listing = ann.dav("PROPFIND", "addressbooks/ann@example.com/").header("depth", "1").send().await.unwrap();
    assert!(listing.text().await.unwrap().contains("Vendors"));
    let r =
        ann.call("ContactCard/set", json!({ "update": { &dav_id: { "addressBookIds": { &new_book: true } } } })).await;
    assert!(r["updated"].get(&dav_id).is_some(), "{r}");
    let got = ann.call("ContactCard/get", json!({ "ids": [&dav_id], "properties": ["addressBookIds"] })).await;
    assert_eq!(got["list"][0]["addressBookIds"], json!({ &new_book: true }), "the id stays: {got}");
    let r = ann.call("AddressBook/set", json!({ "destroy": [&new_book] })).await;
    assert_eq!(r["notDestroyed"][&new_book]["type"], "addressBookHasContents", "{r}");
    let r = ann.call("AddressBook/set", json!({ "destroy": [&new_book], "onDestroyRemoveContents": true })).await;
    assert_eq!(r["destroyed"], json!([new_book]), "{r}");
    let got = ann.call("ContactCard/get", json!({ "ids": [&dav_id] })).await;
    assert_eq!(got["notFound"], json!([dav_id]));
}

fn weekly(uid: &str) -> String {
    // Mondays 10:00 Berlin from 5 January 2026, six times; the third moved to 14:00.
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kontor-test//EN\r\nX-WR-CALNAME:kept too\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\n\
         RRULE:FREQ=WEEKLY;COUNT=6\r\nSUMMARY:Standup\r\nX-CUSTOM;X-P=1:kept\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260119T100000\r\n\
         DTSTART;TZID=Europe/Berlin:20260119T140000\r\nDURATION:PT1H\r\nSUMMARY:Standup (afternoon)\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

async fn calendars_both_ways(store: &Store) {
    let server = setup(store);
    let ann = Client::login(&server, "ann@example.com").await;
    let cals = ann.call("Calendar/get", json!({})).await;
    assert_eq!(cals["list"].as_array().unwrap().len(), 1, "the task list is not a calendar: {cals}");
    let cal = cals["list"][0].clone();
    assert_eq!((cal["name"].as_str(), cal["isDefault"].as_bool()), (Some("Calendar"), Some(true)));
    assert_eq!(cal["myRights"]["mayWriteAll"], true);
    let cal_id = cal["id"].as_str().unwrap().to_owned();
    let state = cals["state"].as_str().unwrap().to_owned();

    // JMAP → CalDAV.
    let r = ann
        .call(
            "CalendarEvent/set",
            json!({ "create": { "l": {
                "calendarIds": { &cal_id: true }, "uid": "jmap-ev-1", "title": "Lunch",
                "start": "2026-03-02T12:00:00", "timeZone": "Europe/Paris", "duration": "PT1H30M",
            }}}),
        )
        .await;
    let lunch = r["created"]["l"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let (status, ics) = ann.dav_get("calendars/ann@example.com/calendar/jmap-ev-1.ics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ics.contains("SUMMARY:Lunch") && ics.contains("DTSTART;TZID=Europe/Paris:20260302T120000"), "{ics}");
    assert!(ics.contains("BEGIN:VTIMEZONE") && ics.contains("PRODID:"), "{ics}");

    // CalDAV → JMAP: a recurring event with an override, and a task (not an event). Push
    // tells an EventSource client that CalendarEvent moved.
    let url = ann.session["eventSourceUrl"]
        .as_str()
        .unwrap()
        .replace("{types}", "CalendarEvent")
        .replace("{closeafter}", "state")
        .replace("{ping}", "0");
    let mut stream = ann.http.get(url).basic_auth(&ann.user, Some(&ann.password)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let put =
        ann.dav_put("calendars/ann@example.com/calendar/standup.ics", "text/calendar", &weekly("standup-1")).await;
    assert_eq!(put, StatusCode::CREATED);
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), stream.chunk()).await.unwrap().unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let change: Value = serde_json::from_str(text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert!(change["changed"][&ann.account]["CalendarEvent"].is_string(), "{change}");
    assert!(change["changed"][&ann.account].get("Email").is_none(), "{change}");
    let todo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:todo-1\r\nDTSTAMP:20260101T000000Z\r\n\
        SUMMARY:Not an event\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    assert_eq!(
        ann.dav_put("calendars/ann@example.com/calendar/todo.ics", "text/calendar", todo).await,
        StatusCode::CREATED
    );
    let changes = ann.call("CalendarEvent/changes", json!({ "sinceState": state })).await;
    assert_eq!(changes["created"].as_array().unwrap().len(), 3, "{changes}");
    let all = ann.call("CalendarEvent/get", json!({ "ids": null })).await;
    let list = all["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "events only: {all}");
    let standup = list.iter().find(|e| e["uid"] == "standup-1").unwrap();
    let standup_id = standup["id"].as_str().unwrap().to_owned();
    assert_eq!(standup["recurrenceRule"]["frequency"], "weekly", "{standup}");
    assert_eq!(standup["start"], "2026-01-05T10:00:00");
    assert_eq!(standup["recurrenceOverrides"]["2026-01-19T10:00:00"]["title"], "Standup (afternoon)");
    let times = ann.call("CalendarEvent/get", json!({ "ids": [&lunch], "properties": ["utcStart", "utcEnd"] })).await;
    assert_eq!(times["list"][0]["utcStart"], "2026-03-02T11:00:00Z", "{times}");
    assert_eq!(times["list"][0]["utcEnd"], "2026-03-02T12:30:00Z", "{times}");

    // Query by time range: a window that holds only the fourth instance (26 January) finds the
    // recurring event; the moved third instance is found at its new time only.
    let q =
        |after: &str, before: &str| json!({ "filter": { "inCalendars": [&cal_id], "after": after, "before": before } });
    let found = ann.call("CalendarEvent/query", q("2026-01-26T08:00:00Z", "2026-01-26T10:00:00Z")).await;
    assert_eq!(found["ids"], json!([standup_id]), "{found}");
    let found = ann.call("CalendarEvent/query", q("2026-01-19T08:30:00Z", "2026-01-19T09:30:00Z")).await;
    assert_eq!(found["ids"], json!([]), "the overridden instance moved: {found}");
    let found = ann.call("CalendarEvent/query", q("2026-01-19T12:30:00Z", "2026-01-19T13:30:00Z")).await;
    assert_eq!(found["ids"], json!([standup_id]), "{found}");
    let found = ann.call("CalendarEvent/query", q("2026-02-16T00:00:00Z", "2026-03-01T00:00:00Z")).await;
    assert_eq!(found["ids"], json!([]), "after COUNT ends: {found}");
    let found = ann.call("CalendarEvent/query", json!({ "filter": { "after": "2026-01-01T00:00:00Z" } })).await;
    assert_eq!(found["ids"], json!([standup_id, lunch]), "by start: {found}");
    let found = ann.call("CalendarEvent/query", json!({ "filter": { "title": "lunch" } })).await;
    assert_eq!(found["ids"], json!([lunch]));

    // Expanded: one id per instance; an instance reads as the draft's instance object, and
    // changing or destroying one writes an override or an exclusion into the master.
    let mut expand = q("2026-01-12T00:00:00Z", "2026-01-27T00:00:00Z");
    expand["expandRecurrences"] = json!(true);
    let found = ann.call("CalendarEvent/query", expand.clone()).await;
    let inst = |day: &str| format!("{standup_id}-202601{day}T090000Z");
    assert_eq!(found["ids"], json!([inst("12"), inst("19"), inst("26")]), "{found}");
    let got = ann.call("CalendarEvent/get", json!({ "ids": [inst("19"), inst("20"), &lunch] })).await;
    let moved = got["list"].as_array().unwrap().iter().find(|e| e["id"] == json!(inst("19"))).unwrap();
    assert_eq!(moved["title"], "Standup (afternoon)", "{got}");
    assert_eq!(
        (moved["start"].as_str(), moved["recurrenceId"].as_str()),
        (Some("2026-01-19T14:00:00"), Some("2026-01-19T10:00:00"))
    );
    assert_eq!(moved["baseEventId"], json!(standup_id));
    assert!(moved.get("recurrenceRule").is_none(), "{moved}");
    assert_eq!(got["list"].as_array().unwrap().len(), 2, "{got}");
    assert_eq!(got["notFound"], json!([inst("20")]), "no instance on the 20th: {got}");
    let r = ann
        .call(
            "CalendarEvent/set",
            json!({ "update": { inst("26"): { "title": "Standup (remote)" } }, "destroy": [inst("12")] }),
        )
        .await;
    assert!(r["updated"].get(inst("26")).is_some() && r["destroyed"] == json!([inst("12")]), "{r}");
    let (_, ics) = ann.dav_get("calendars/ann@example.com/calendar/standup.ics").await;
    assert!(
        ics.contains("RECURRENCE-ID;TZID=Europe/Berlin:20260126T100000") && ics.contains("Standup (remote)"),
        "{ics}"
    );
    assert!(ics.contains("EXDATE") && ics.contains("20260112T100000"), "{ics}");
    let found = ann.call("CalendarEvent/query", expand).await;
    assert_eq!(found["ids"], json!([inst("19"), inst("26")]), "{found}");
    let unbounded = json!({ "filter": { "after": "2026-01-01T00:00:00Z" }, "expandRecurrences": true });
    assert_eq!(ann.error("CalendarEvent/query", unbounded).await, "invalidArguments");

    // A JMAP change keeps the rule, the override, and what iCalendar has that JSCalendar lacks.
    let r = ann.call("CalendarEvent/set", json!({ "update": { &standup_id: { "title": "Daily standup" } } })).await;
    assert!(r["updated"].get(&standup_id).is_some(), "{r}");
    let (_, ics) = ann.dav_get("calendars/ann@example.com/calendar/standup.ics").await;
    assert!(ics.contains("SUMMARY:Daily standup") && ics.contains("RRULE:FREQ=WEEKLY;COUNT=6"), "{ics}");
    assert!(ics.contains("Standup (afternoon)") && ics.contains("Standup (remote)"), "{ics}");
    assert!(ics.contains("X-CUSTOM;X-P=1:kept") && ics.contains("X-WR-CALNAME:kept too"), "{ics}");

    // Calendars: create with a colour, rename, move an event in, destroy.
    let r = ann
        .call(
            "Calendar/set",
            json!({ "create": { "k": { "name": "Work", "color": "#ff8800", "timeZone": "Europe/Berlin" } } }),
        )
        .await;
    let work = r["created"]["k"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    ann.call("Calendar/set", json!({ "update": { &work: { "name": "Office" } } })).await;
    let got = ann.call("Calendar/get", json!({ "ids": [&work] })).await;
    let w = &got["list"][0];
    assert_eq!(
        (w["name"].as_str(), w["color"].as_str(), w["timeZone"].as_str()),
        (Some("Office"), Some("#ff8800"), Some("Europe/Berlin"))
    );
    let r = ann.call("CalendarEvent/set", json!({ "update": { &lunch: { "calendarIds": { &work: true } } } })).await;
    assert!(r["updated"].get(&lunch).is_some(), "{r}");
    let r = ann.call("Calendar/set", json!({ "destroy": [&work] })).await;
    assert_eq!(r["notDestroyed"][&work]["type"], "calendarHasEvent", "{r}");
    let r = ann.call("Calendar/set", json!({ "destroy": [&work], "onDestroyRemoveEvents": true })).await;
    assert_eq!(r["destroyed"], json!([work]));
    let r = ann.call("CalendarEvent/set", json!({ "destroy": [&standup_id] })).await;
    assert_eq!(r["destroyed"], json!([standup_id]));
    let (status, _) = ann.dav_get("calendars/ann@example.com/calendar/standup.ics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn errors_and_sharing(store: &Store) {
    let server = setup(store);
    let ann = Client::login(&server, "ann@example.com").await;
    let bob = Client::login(&server, "bob@example.com").await;
    let eve = Client::login(&server, "eve@example.com").await;
    let book = ann.call("AddressBook/get", json!({})).await["list"][0]["id"].as_str().unwrap().to_owned();
    let cal = ann.call("Calendar/get", json!({})).await["list"][0]["id"].as_str().unwrap().to_owned();
    let r = ann.call("ContactCard/set", json!({ "create": { "a": { "name": { "full": "Ann's friend" } } } })).await;
    let card = r["created"]["a"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    assert!(r["created"]["a"]["uid"].as_str().is_some(), "a uid is made: {r}");
    let r = ann
        .call(
            "CalendarEvent/set",
            json!({ "create": { "e": { "title": "Ann's", "start": "2026-05-01T09:00:00", "timeZone": null } } }),
        )
        .await;
    let event = r["created"]["e"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();

    // Ann takes part in events as her own address (JMAP Calendars' ParticipantIdentity).
    let who = ann.call("ParticipantIdentity/get", json!({})).await;
    assert_eq!(who["list"][0]["calendarAddress"], "mailto:ann@example.com", "{who}");
    assert_eq!(who["list"][0]["isDefault"], true, "{who}");
    let r =
        ann.call("ParticipantIdentity/set", json!({ "create": { "x": { "calendarAddress": "mailto:x@y" } } })).await;
    assert_eq!(r["notCreated"]["x"]["type"], "forbidden", "{r}");

    // Client mistakes.
    let r = ann
        .call("ContactCard/set", json!({ "create": { "a": { "name": "not an object" }, "b": { "emails": { "e": { "address": "x@y" } }, "bogus": 1 } } }))
        .await;
    assert_eq!(r["notCreated"]["a"]["type"], "invalidProperties", "{r}");
    assert_eq!(r["notCreated"]["a"]["properties"], json!(["name"]));
    assert_eq!(r["notCreated"]["b"]["properties"], json!(["bogus"]));
    let r = ann.call("CalendarEvent/set", json!({ "create": { "a": { "title": "x", "start": "tomorrow" } } })).await;
    assert_eq!(r["notCreated"]["a"]["properties"], json!(["start"]), "{r}");
    let r = ann
        .call("CalendarEvent/set", json!({ "create": { "a": { "title": "x", "calendarIds": { "k999999": true } } } }))
        .await;
    assert_eq!(r["notCreated"]["a"]["properties"], json!(["calendarIds"]), "{r}");
    let r = ann
        .call("CalendarEvent/set", json!({ "update": { &event: { "uid": "other" }, "v999999": { "title": "x" } } }))
        .await;
    assert_eq!(r["notUpdated"][&event]["type"], "invalidProperties", "{r}");
    assert_eq!(r["notUpdated"]["v999999"]["type"], "notFound", "{r}");
    let r = ann
        .call(
            "ContactCard/set",
            json!({ "update": { &card: { "name/nope/deeper": "x" } }, "destroy": ["c999999", "garbage"] }),
        )
        .await;
    assert_eq!(r["notUpdated"][&card]["type"], "invalidProperties", "{r}");
    assert_eq!(r["notDestroyed"]["c999999"]["type"], "notFound");
    assert_eq!(r["notDestroyed"]["garbage"]["type"], "notFound");
    let got = ann.call("ContactCard/get", json!({ "ids": ["c999999", &event, "x"] })).await;
    assert_eq!(got["notFound"], json!(["c999999", event, "x"]), "an event id is no card: {got}");
    assert_eq!(ann.error("ContactCard/get", json!({ "properties": ["nope"] })).await, "invalidArguments");
    assert_eq!(ann.error("CalendarEvent/query", json!({ "filter": { "after": "soon" } })).await, "invalidArguments");
    assert_eq!(ann.error("CalendarEvent/query", json!({ "filter": { "colour": "red" } })).await, "unsupportedFilter");
    assert_eq!(ann.error("ContactCard/changes", json!({ "sinceState": "banana" })).await, "cannotCalculateChanges");
    let r = ann.calls_using(&["urn:ietf:params:jmap:core"], &[("ContactCard/get", json!({}))]).await;
    assert_eq!(r[0][1]["type"], "unknownMethod", "contacts not in using: {r:?}");

    // Nobody else sees Ann's account.
    assert_eq!(eve.error("ContactCard/get", json!({ "accountId": &ann.account })).await, "accountNotFound");
    assert_eq!(eve.error("CalendarEvent/query", json!({ "accountId": &ann.account })).await, "accountNotFound");

    // Reviewer, given over JMAP: Bob reads, may not write.
    let bob_p = bob.principal();
    let r = ann
        .call("AddressBook/set", json!({ "update": { &book: { "shareWith": { &bob_p: { "mayRead": true } } } } }))
        .await;
    assert!(r["updated"].get(&book).is_some(), "{r}");
    let r = ann
        .call("Calendar/set", json!({ "update": { &cal: { format!("shareWith/{bob_p}"): { "mayReadItems": true } } } }))
        .await;
    assert!(r["updated"].get(&cal).is_some(), "{r}");
    let got = ann.call("AddressBook/get", json!({ "ids": [&book], "properties": ["shareWith"] })).await;
    assert_eq!(got["list"][0]["shareWith"][&bob_p]["mayRead"], true, "{got}");
    assert_eq!(got["list"][0]["shareWith"][&bob_p]["mayWrite"], false, "{got}");
    let bob = Client::login(&server, "bob@example.com").await;
    let shared = &bob.session["accounts"][&ann.account];
    assert_eq!(shared["isPersonal"], false, "{}", bob.session);
    assert!(shared["accountCapabilities"].get("urn:ietf:params:jmap:contacts").is_some(), "{shared}");
    assert!(shared["accountCapabilities"].get("urn:ietf:params:jmap:calendars").is_some(), "{shared}");
    let theirs = json!({ "accountId": &ann.account });
    let books = bob.call("AddressBook/get", theirs.clone()).await;
    assert_eq!(
        books["list"][0]["myRights"],
        json!({ "mayRead": true, "mayWrite": false, "mayShare": false, "mayDelete": false })
    );
    assert_eq!(books["list"][0]["shareWith"], Value::Null, "only a sharer sees the grants");
    let cards = bob.call("ContactCard/get", theirs.clone()).await;
    assert_eq!(cards["list"][0]["name"]["full"], "Ann's friend", "{cards}");
    let cals = bob.call("Calendar/get", theirs.clone()).await;
    assert_eq!(cals["list"][0]["myRights"]["mayReadItems"], true);
    assert_eq!(cals["list"][0]["myRights"]["mayWriteAll"], false);
    let events = bob.call("CalendarEvent/query", theirs.clone()).await;
    assert_eq!(events["ids"], json!([event]));

    // A reviewer copies Ann's card and event into its own account (RFC 8620 §5.4), but cannot
    // destroy the originals on success.
    let r = bob
        .calls_using(
            &USING,
            &[
                (
                    "ContactCard/copy",
                    json!({ "fromAccountId": &ann.account, "accountId": &bob.account,
                    "create": { "k": { "id": &card } }, "onSuccessDestroyOriginal": true }),
                ),
                (
                    "CalendarEvent/copy",
                    json!({ "fromAccountId": &ann.account, "accountId": &bob.account,
                    "create": { "k": { "id": &event, "title": "Ann's, copied" } } }),
                ),
            ],
        )
        .await;
    assert_eq!(r[0][0], "ContactCard/copy", "{r:?}");
    let copied_card = r[0][1]["created"]["k"]["id"].as_str().unwrap_or_else(|| panic!("{r:?}")).to_owned();
    assert_eq!(r[1][0], "ContactCard/set", "the implicit destroy follows the copy: {r:?}");
    assert_eq!(r[1][1]["notDestroyed"][&card]["type"], "forbidden", "{r:?}");
    assert_eq!(r[2][0], "CalendarEvent/copy", "{r:?}");
    let copied_event = r[2][1]["created"]["k"]["id"].as_str().unwrap_or_else(|| panic!("{r:?}")).to_owned();
    let mine = bob.call("ContactCard/get", json!({ "ids": [&copied_card] })).await;
    assert_eq!(mine["list"][0]["name"]["full"], "Ann's friend", "{mine}");
    let mine = bob.call("CalendarEvent/get", json!({ "ids": [&copied_event], "properties": ["title", "start"] })).await;
    assert_eq!(mine["list"][0]["title"], "Ann's, copied", "{mine}");
    assert_eq!(mine["list"][0]["start"], "2026-05-01T09:00:00", "{mine}");
    assert_eq!(
        bob.error("ContactCard/copy", json!({ "fromAccountId": &bob.account, "create": {} })).await,
        "invalidArguments",
        "a copy goes between two accounts"
    );
    assert_eq!(
        eve.error("ContactCard/copy", json!({ "fromAccountId": &ann.account, "create": { "k": { "id": &card } } }))
            .await,
        "accountNotFound",
        "Eve copies nothing of Ann's"
    );
    let r = bob
        .call(
            "ContactCard/set",
            json!({ "accountId": &ann.account, "create": { "b": { "name": { "full": "Bob's" } } },
            "update": { &card: { "name/full": "Bob was here" } }, "destroy": [&card] }),
        )
        .await;
    assert_eq!(r["notCreated"]["b"]["type"], "forbidden", "{r}");
    assert_eq!(r["notUpdated"][&card]["type"], "forbidden", "{r}");
    assert_eq!(r["notDestroyed"][&card]["type"], "forbidden", "{r}");
    let r = bob
        .call("CalendarEvent/set", json!({ "accountId": &ann.account, "update": { &event: { "title": "Bob's now" } } }))
        .await;
    assert_eq!(r["notUpdated"][&event]["type"], "forbidden", "{r}");
    let r = bob
        .call("AddressBook/set", json!({ "accountId": &ann.account, "update": { &book: { "shareWith": {} } } }))
        .await;
    assert_eq!(r["notUpdated"][&book]["type"], "forbidden", "a reviewer does not share: {r}");

    // Editor: Bob writes, and Ann reads it over CardDAV and CalDAV.
    let r = ann
        .call(
            "AddressBook/set",
            json!({ "update": { &book: { format!("shareWith/{bob_p}"): { "mayRead": true, "mayWrite": true } } } }),
        )
        .await;
    assert!(r["updated"].get(&book).is_some(), "{r}");
    ann.call(
        "Calendar/set",
        json!({ "update": { &cal: { "shareWith": { &bob_p: { "mayReadItems": true, "mayWriteAll": true } } } } }),
    )
    .await;
    let r = bob
        .call("ContactCard/set", json!({ "accountId": &ann.account, "create": { "b": { "uid": "bobs-card", "name": { "full": "Bob's card" } } },
            "update": { &card: { "name/full": "Bob was here" } } }))
        .await;
    assert!(r["created"]["b"]["id"].is_string() && r["updated"].get(&card).is_some(), "{r}");
    let (_, vcard) = ann.dav_get("addressbooks/ann@example.com/contacts/bobs-card.vcf").await;
    assert!(vcard.contains("FN:Bob's card"), "{vcard}");
    let r = bob
        .call("CalendarEvent/set", json!({ "accountId": &ann.account, "create": { "e": { "uid": "bobs-event", "title": "Bob's event", "start": "2026-05-02T09:00:00", "timeZone": "Europe/Berlin" } } }))
        .await;
    assert!(r["created"]["e"]["id"].is_string(), "{r}");
    let (_, ics) = ann.dav_get("calendars/ann@example.com/calendar/bobs-event.ics").await;
    assert!(ics.contains("SUMMARY:Bob's event"), "{ics}");

    // Revoked: Ann's account leaves Bob's session.
    ann.call("AddressBook/set", json!({ "update": { &book: { "shareWith": null } } })).await;
    ann.call("Calendar/set", json!({ "update": { &cal: { format!("shareWith/{bob_p}"): null } } })).await;
    assert_eq!(bob.error("ContactCard/get", theirs.clone()).await, "accountNotFound");
    let bob = Client::login(&server, "bob@example.com").await;
    assert!(bob.session["accounts"].get(&ann.account).is_none(), "{}", bob.session);
}
