//! Push over EventSource (RFC 8620 §7.3): a `state` event with a StateChange whenever the
//! domain's event bus says something of a visible account changed, from any protocol (an SMTP
//! delivery, an IMAP STORE, a CalDAV PUT), and `ping` events at the interval asked for.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_domain::auth::Authenticated;
use kontor_domain::events::Event;
use kontor_domain::ids::AccountId;
use kontor_domain::model::{CollectionKind, Principal};
use serde_json::json;

use crate::error::RequestError;
use crate::{Jmap, ids};

#[derive(serde::Deserialize)]
pub struct Params {
    types: Option<String>,
    closeafter: Option<String>,
    ping: Option<u64>,
}

/// The JMAP types whose state a change of this kind moves.
pub fn types_of(kind: CollectionKind) -> &'static [&'static str] {
    match kind {
        CollectionKind::MailFolder => &["Mailbox", "Email", "Thread"],
        CollectionKind::AddressBook => &["AddressBook", "ContactCard"],
        CollectionKind::Calendar => &["Calendar", "CalendarEvent"],
        _ => &[],
    }
}

struct Stream {
    jmap: Jmap,
    who: Principal,
    accounts: HashSet<AccountId>,
    wanted: Option<HashSet<String>>,
    events: tokio::sync::broadcast::Receiver<Event>,
    ping: Option<tokio::time::Interval>,
    ping_secs: u64,
    close_after_state: bool,
    done: bool,
}

impl Stream {
    /// The next event to send, or `None` when the stream ends.
    async fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        loop {
            let ping = async {
                match self.ping.as_mut() {
                    Some(p) => {
                        p.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = ping => {
                    return Some(format!("event: ping\ndata: {}\n\n", json!({ "interval": self.ping_secs })));
                }
                e = self.events.recv() => {
                    let (account, kinds, notices) = match e {
                        Ok(Event::Changed { account, kinds, .. }) => (account, kinds, false),
                        Ok(Event::Noticed { account }) if account == self.who.id => (account, Vec::new(), true),
                        Ok(_) => continue,
                        // Missed events: announce every type of every account, the client re-syncs.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let all: Vec<AccountId> = self.accounts.iter().copied().collect();
                            let kinds = [CollectionKind::MailFolder, CollectionKind::AddressBook, CollectionKind::Calendar];
                            match self.state_change(&all, &kinds, true).await {
                                Some(s) => return Some(self.finish(s)),
                                None => continue,
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    };
                    if !self.accounts.contains(&account) {
                        continue;
                    }
                    if let Some(s) = self.state_change(&[account], &kinds, notices).await {
                        return Some(self.finish(s));
                    }
                }
            }
        }
    }

    fn finish(&mut self, event: String) -> String {
        if self.close_after_state {
            self.done = true;
        }
        event
    }

    /// A `state` event for these accounts and kinds, if any type the client wants moved.
    async fn state_change(&self, accounts: &[AccountId], kinds: &[CollectionKind], notices: bool) -> Option<String> {
        let notices = notices.then_some(self.who.id);
        let change = state_change(&self.jmap.core, accounts, kinds, notices, self.wanted.as_ref()).await?;
        Some(format!("event: state\ndata: {change}\n\n"))
    }
}

/// A StateChange object (RFC 8620 §7.1) for these accounts and kinds, and for the share
/// notices of `notices` (the listener's own account), if any type in `wanted` (all, with
/// `None`) moved.
pub async fn state_change(
    core: &kontor_domain::Core,
    accounts: &[AccountId],
    kinds: &[CollectionKind],
    notices: Option<AccountId>,
    wanted: Option<&HashSet<String>>,
) -> Option<serde_json::Value> {
    let mut changed = serde_json::Map::new();
    for account in accounts {
        let mut types = BTreeMap::new();
        if notices == Some(*account)
            && wanted.is_none_or(|w| w.contains("ShareNotification"))
            && let Ok(n) = core.share_notice_position(*account).await
        {
            types.insert("ShareNotification".to_owned(), json!(n.to_string()));
        }
        for kind in kinds {
            let names = types_of(*kind);
            if names.is_empty() {
                continue;
            }
            let Ok(state) = core.kind_state(*account, *kind).await else { continue };
            for t in names {
                if wanted.is_none_or(|w| w.contains(*t)) {
                    types.insert((*t).to_owned(), json!(state.0.to_string()));
                }
            }
        }
        if !types.is_empty() {
            changed.insert(ids::account(*account), serde_json::Value::Object(types.into_iter().collect()));
        }
    }
    if changed.is_empty() {
        return None;
    }
    Some(json!({ "@type": "StateChange", "changed": changed }))
}

/// The accounts whose changes a user hears of: its own and those shared with it.
pub async fn visible_accounts(core: &kontor_domain::Core, who: &Principal) -> HashSet<AccountId> {
    let mut accounts: HashSet<AccountId> = HashSet::from([who.id]);
    match core.shared_accounts(who).await {
        Ok(list) => accounts.extend(list.into_iter().map(|(p, _)| p.id)),
        Err(e) => tracing::warn!(error = %e, "push: shared accounts not read"),
    }
    accounts
}

/// `GET /jmap/eventsource?types=&closeafter=&ping=`.
pub async fn eventsource(
    State(j): State<Jmap>,
    Extension(who): Extension<Authenticated>,
    Query(p): Query<Params>,
) -> Response {
    let close_after_state = match p.closeafter.as_deref() {
        None | Some("no" | "") => false,
        Some("state") => true,
        Some(_) => {
            return RequestError::status(StatusCode::BAD_REQUEST, "closeafter must be state or no").into_response();
        }
    };
    let wanted = match p.types.as_deref() {
        None | Some("*" | "") => None,
        Some(list) => Some(list.split(',').map(|t| t.trim().to_owned()).collect::<HashSet<_>>()),
    };
    // Subscribe before anything else, so no change after this request is missed.
    let events = j.core.bus.subscribe();
    let accounts = visible_accounts(&j.core, &who.principal).await;
    // Pings at least every 10 s apart keep proxies from closing a quiet stream too early.
    let ping_secs = p.ping.unwrap_or(0).min(3600);
    let ping = (ping_secs > 0).then(|| {
        let period = Duration::from_secs(ping_secs.max(10));
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let stream = Stream {
        jmap: j,
        who: who.principal,
        accounts,
        wanted,
        events,
        ping,
        ping_secs: ping_secs.max(10),
        close_after_state,
        done: false,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let event = s.next().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes::Bytes::from(event)), s))
    });
    let mut r = axum::body::Body::from_stream(body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
