//! libdav (the CalDAV/CardDAV client library of pimsync) against Kontor on SQLite and
//! PostgreSQL: RFC 6764 discovery, principal and home sets, calendar and address book
//! listing, creating a calendar, conditional create/update/delete, multiget, and
//! sync-collection with tokens — as a real Rust client does them.

#![allow(clippy::unwrap_used)]

mod support;

use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use libdav::caldav::{CreateCalendar, FindCalendarHomeSet, FindCalendars, GetCalendarResources};
use libdav::carddav::{FindAddressBookHomeSet, FindAddressBooks, GetAddressBookResources};
use libdav::dav::{Delete, PutResource, SyncCollection, WebDavClient};
use libdav::sd::DiscoverableService;
use libdav::{CalDavClient, CardDavClient};
use support::{Server, Store};
use tower_http::auth::AddAuthorization;

both_stores!(libdav_client_works);

type Http = AddAuthorization<Client<HttpConnector, String>>;

fn webdav(server: &Server, user: &str, password: &str, base: &str) -> WebDavClient<Http> {
    let client = Client::builder(TokioExecutor::new()).build_http::<String>();
    let url: Uri = format!("{}{base}", server.url).parse().unwrap();
    WebDavClient::new(url, AddAuthorization::basic(client, user, password))
}

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//libdav-test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260601T090000Z\r\nDTEND:20260601T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn libdav_client_works(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "lib@example.com", "--password-stdin"], Some("libdav password\n"));
    let server = Server::start(store, &[]);
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();

    // RFC 6764: the well-known URL leads to the context path.
    let probe = webdav(&server, "lib@example.com", "libdav password", "/");
    let context = probe.find_context_path(DiscoverableService::CalDav, "127.0.0.1", port).await.unwrap();
    let context = context.expect("a context path behind /.well-known/caldav");
    assert_eq!(context.path(), "/dav/");
    let cal = CalDavClient::new(webdav(&server, "lib@example.com", "libdav password", context.path()));

    let principal = cal.find_current_user_principal().await.unwrap().expect("current-user-principal");
    assert_eq!(principal.path(), "/dav/principals/lib@example.com/");
    let homes = cal.request(FindCalendarHomeSet::new(principal.path())).await.unwrap().home_sets;
    assert_eq!(homes.len(), 1);
    let home = homes[0].path().to_owned();
    let found = cal.request(FindCalendars::new(&home)).await.unwrap().calendars;
    let hrefs: Vec<&str> = found.iter().map(|c| c.href.as_str()).collect();
    assert!(
        hrefs.iter().any(|h| h.ends_with("/calendar/")) && hrefs.iter().any(|h| h.ends_with("/tasks/")),
        "{hrefs:?}"
    );
    assert!(found.iter().all(|c| c.supports_sync), "sync-collection advertised");

    // A calendar of our own.
    let work = format!("{home}work/");
    cal.request(CreateCalendar::new(&work).with_display_name("Work")).await.unwrap();
    assert!(cal.request(FindCalendars::new(&home)).await.unwrap().calendars.iter().any(|c| c.href == work));

    // Create (If-None-Match: *), a second create of the same name fails, update by ETag.
    let first = cal.request(SyncCollection::new(&work)).await.unwrap();
    assert!(first.changed.is_empty() && first.deleted.is_empty());
    let a = format!("{work}a.ics");
    let created = cal.request(PutResource::new(&a).create(event("a", "Alpha"), "text/calendar")).await.unwrap();
    let etag = created.etag.expect("ETag on PUT");
    assert!(cal.request(PutResource::new(&a).create(event("a", "Again"), "text/calendar")).await.is_err());
    assert!(cal.request(PutResource::new(&a).update(event("a", "Stale"), "text/calendar", "\"0-0\"")).await.is_err());
    let updated =
        cal.request(PutResource::new(&a).update(event("a", "Alpha v2"), "text/calendar", &etag)).await.unwrap();
    let etag2 = updated.etag.expect("new ETag");
    assert_ne!(etag, etag2);
    let b = format!("{work}b.ics");
    cal.request(PutResource::new(&b).create(event("b", "Beta"), "text/calendar")).await.unwrap();

    // calendar-multiget of both, and the data is what was stored.
    let got = cal.request(GetCalendarResources::new(&work).with_hrefs([&a, &b])).await.unwrap().resources;
    assert_eq!(got.len(), 2);
    let alpha = got.iter().find(|r| r.href == a).unwrap().content.as_ref().unwrap();
    assert_eq!(alpha.data, event("a", "Alpha v2"));
    assert_eq!(alpha.etag, etag2);

    // sync-collection: changes since the first token, then a deletion since the second.
    let second = cal.request(SyncCollection::new(&work).with_sync_token(&first.new_sync_token)).await.unwrap();
    let mut changed: Vec<&str> = second.changed.iter().map(|r| r.href.as_str()).collect();
    changed.sort_unstable();
    assert_eq!(changed, [a.as_str(), b.as_str()]);
    assert!(cal.request(Delete::new(&b).with_etag("\"0-0\"")).await.is_err(), "stale ETag refused");
    cal.request(Delete::new(&b).force()).await.unwrap();
    let third = cal.request(SyncCollection::new(&work).with_sync_token(&second.new_sync_token)).await.unwrap();
    assert!(third.changed.is_empty(), "{:?}", third.changed);
    assert_eq!(third.deleted, std::slice::from_ref(&b));

    // CardDAV: home set, the default address book, a card, read back.
    let card = CardDavClient::new(webdav(&server, "lib@example.com", "libdav password", "/dav/"));
    let book_homes = card.request(FindAddressBookHomeSet::new(principal.path())).await.unwrap().home_sets;
    let books = card.request(FindAddressBooks::new(book_homes[0].path())).await.unwrap().addressbooks;
    let contacts = books.iter().find(|b| b.href.ends_with("/contacts/")).expect("default address book").href.clone();
    let vcf = format!("{contacts}c.vcf");
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c\r\nFN:Carla\r\nEMAIL:carla@example.org\r\nEND:VCARD\r\n";
    card.request(PutResource::new(&vcf).create(text, "text/vcard")).await.unwrap();
    let got = card.request(GetAddressBookResources::new(&contacts).with_hrefs([&vcf])).await.unwrap().resources;
    assert_eq!(got[0].content.as_ref().unwrap().data, text);

    // Wrong password: the client sees an error, not data.
    let intruder = CalDavClient::new(webdav(&server, "lib@example.com", "wrong", "/dav/"));
    assert!(intruder.request(FindCalendars::new(&home)).await.is_err());
    server.stop();
}
