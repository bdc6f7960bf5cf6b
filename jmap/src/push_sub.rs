//! PushSubscription (RFC 8620 §7.2): the server posts StateChange objects to a URL the client
//! gave, once the client proved it reads what is posted there (the verification code the server
//! posted first). Only URLs under a prefix the administrator allows (`jmap.push_allowed`) are
//! accepted; encrypted push (RFC 8291 `keys`) is not offered. Subscriptions are documents of the
//! user's account; a change of the account is posted to each verified, unexpired one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kontor_domain::Core;
use kontor_domain::events::Event;
use kontor_domain::ids::{AccountId, Timestamp};
use kontor_domain::model::CollectionKind;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, SetError};
use crate::generic::ObjectType;

const KIND: &str = "jmap-push";
/// Subscriptions last at most this long (a client renews by updating `expires`).
const MAX_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Where pushes may go.
#[derive(Debug, Clone, Default)]
pub struct PushSettings {
    /// URL prefixes (`http://127.0.0.1:`…); empty: PushSubscription is refused.
    pub allowed: Vec<String>,
}

impl PushSettings {
    fn allows(&self, url: &str) -> bool {
        url.starts_with("http://") && self.allowed.iter().any(|p| !p.is_empty() && url.starts_with(p.as_str()))
    }
}

pub struct PushSubscription;

fn sub_id(doc: i64) -> String {
    format!("p{doc}")
}

fn doc_of(id: &str) -> Option<i64> {
    id.strip_prefix('p')?.parse().ok()
}

async fn subscriptions(core: &Core, account: AccountId) -> Vec<(i64, Map<String, Value>)> {
    match core.account_client_documents(account, KIND).await {
        Ok(docs) => docs
            .into_iter()
            .filter_map(|d| match serde_json::from_str(&d.data) {
                Ok(Value::Object(o)) => Some((d.id, o)),
                _ => None,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "push subscriptions not read");
            Vec::new()
        }
    }
}

/// Posts a JSON body to a URL; failures are logged (a push is a hint, the client resyncs).
async fn post(url: &str, body: Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let Ok(request) = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("TTL", "86400")
        .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
    else {
        return;
    };
    match tokio::time::timeout(Duration::from_secs(30), client.request(request)).await {
        Ok(Ok(r)) if r.status().is_success() => {}
        Ok(Ok(r)) => tracing::info!(%url, status = %r.status(), "push endpoint refused a notification"),
        Ok(Err(e)) => tracing::info!(%url, error = %e, "push endpoint not reached"),
        Err(_) => tracing::info!(%url, "push endpoint did not answer"),
    }
}

fn expires(v: Option<&Value>) -> Result<Timestamp, SetError> {
    let now = Timestamp::now().0;
    let asked = match v {
        None | Some(Value::Null) => now + MAX_LIFETIME_MS,
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| SetError::invalid_properties(&["expires"], "must be a UTCDate"))?
            .timestamp_millis(),
        Some(_) => return Err(SetError::invalid_properties(&["expires"], "must be a UTCDate")),
    };
    Ok(Timestamp(asked.clamp(now, now + MAX_LIFETIME_MS)))
}

fn types(v: Option<&Value>) -> Result<Value, SetError> {
    match v {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(Value::Array(a.clone())),
        Some(_) => Err(SetError::invalid_properties(&["types"], "must be a list of type names or null")),
    }
}

#[async_trait]
impl ObjectType for PushSubscription {
    const NAME: &'static str = "PushSubscription";
    const PROPERTIES: &'static [&'static str] = &["id", "deviceClientId", "verificationCode", "expires", "types"];

    async fn state(_ctx: &Ctx<'_>, _account: AccountId) -> Result<String, MethodError> {
        Ok(String::new())
    }

    async fn get(
        ctx: &Ctx<'_>,
        _account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let all = subscriptions(ctx.core, ctx.who.id).await;
        let render = |id: i64, o: &Map<String, Value>| {
            let mut out = Map::new();
            for p in props {
                let v = match p.as_str() {
                    "id" => json!(sub_id(id)),
                    "deviceClientId" => o.get("deviceClientId").cloned().unwrap_or(Value::Null),
                    "verificationCode" => {
                        if o.get("verified") == Some(&Value::Bool(true)) {
                            o.get("code").cloned().unwrap_or(Value::Null)
                        } else {
                            Value::Null
                        }
                    }
                    "expires" => o.get("expires").cloned().unwrap_or(Value::Null),
                    "types" => o.get("types").cloned().unwrap_or(Value::Null),
                    _ => continue,
                };
                out.insert(p.clone(), v);
            }
            Value::Object(out)
        };
        match ids {
            None => Ok((all.iter().map(|(id, o)| render(*id, o)).collect(), Vec::new())),
            Some(wanted) => {
                let (mut list, mut not_found) = (Vec::new(), Vec::new());
                for w in wanted {
                    match all.iter().find(|(id, _)| Some(*id) == doc_of(&w)) {
                        Some((id, o)) => list.push(render(*id, o)),
                        None => not_found.push(w),
                    }
                }
                Ok((list, not_found))
            }
        }
    }

    async fn create(ctx: &Ctx<'_>, _account: AccountId, o: &Map<String, Value>) -> Result<Value, SetError> {
        if let Some(k) = o.keys().find(|k| !["deviceClientId", "url", "keys", "expires", "types"].contains(&k.as_str()))
        {
            return Err(SetError::invalid_properties(&[k], format!("{k} cannot be set")));
        }
        let url = o.get("url").and_then(Value::as_str).unwrap_or_default();
        let device = o.get("deviceClientId").and_then(Value::as_str).unwrap_or_default();
        if device.is_empty() || url.is_empty() {
            return Err(SetError::invalid_properties(
                &["deviceClientId", "url"],
                "deviceClientId and url are required",
            ));
        }
        if !o.get("keys").is_none_or(Value::is_null) {
            return Err(SetError::invalid_properties(&["keys"], "encrypted push (RFC 8291) is not offered"));
        }
        if !ctx.push.allows(url) {
            return Err(SetError::forbidden("the administrator does not allow pushes to this URL"));
        }
        let until = expires(o.get("expires"))?;
        let code = format!("{:032x}", rand::random::<u128>());
        let record = json!({
            "deviceClientId": device, "url": url, "expires": until.rfc3339(), "types": types(o.get("types"))?,
            "code": code, "verified": false,
        });
        let doc = ctx.core.put_client_document(ctx.who, KIND, None, &record.to_string()).await?;
        let id = sub_id(doc);
        // The verification goes out after the answer, as the client expects it (§7.2.2).
        let body = json!({ "@type": "PushVerification", "pushSubscriptionId": id, "verificationCode": code });
        let url = url.to_owned();
        tokio::spawn(async move { post(&url, body).await });
        Ok(json!({ "id": id, "expires": until.rfc3339(), "keys": null }))
    }

    async fn update(
        ctx: &Ctx<'_>,
        _account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let doc = doc_of(id).ok_or_else(SetError::not_found)?;
        let all = subscriptions(ctx.core, ctx.who.id).await;
        let (_, mut o) = all.into_iter().find(|(d, _)| *d == doc).ok_or_else(SetError::not_found)?;
        let mut answer = None;
        for (k, v) in patch {
            match k.as_str() {
                "verificationCode" => {
                    if v.as_str().is_none() || o.get("code") != Some(v) {
                        return Err(SetError::invalid_properties(
                            &["verificationCode"],
                            "not the code that was posted",
                        ));
                    }
                    o.insert("verified".into(), json!(true));
                }
                "expires" => {
                    let until = expires(Some(v))?.rfc3339();
                    o.insert("expires".into(), json!(until));
                    answer = Some(json!({ "expires": until }));
                }
                "types" => {
                    o.insert("types".into(), types(Some(v))?);
                }
                other => return Err(SetError::invalid_properties(&[other], format!("{other} cannot be changed"))),
            }
        }
        ctx.core.put_client_document(ctx.who, KIND, Some(doc), &Value::Object(o).to_string()).await?;
        Ok(answer)
    }

    async fn destroy(ctx: &Ctx<'_>, _account: AccountId, id: &str, _args: &Map<String, Value>) -> Result<(), SetError> {
        let doc = doc_of(id).ok_or_else(SetError::not_found)?;
        if ctx.core.remove_client_document(ctx.who, KIND, doc).await? { Ok(()) } else { Err(SetError::not_found()) }
    }
}

/// Posts a StateChange to the verified, unexpired subscriptions of each account that changes,
/// for as long as the event bus runs. The task does not keep the core alive: when the server
/// drops it (shutting down), the bus closes and the task ends.
pub fn spawn_dispatcher(core: &Arc<Core>) {
    // Events published on this node only: with several nodes on one database, each event is
    // posted once, by the node that made the change.
    let mut events = core.bus.subscribe_local();
    let weak = Arc::downgrade(core);
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        loop {
            // What changed per account in a short window: a burst of writes (a mail client
            // uploading a folder, mail arriving) reads each account's watchers and
            // subscriptions once and posts one StateChange with the newest states (RFC 8620
            // §7.1 lets a server coalesce them), instead of once per write.
            let mut changed: BTreeMap<AccountId, (BTreeSet<CollectionKind>, bool)> = BTreeMap::new();
            let mut note = |e: Event| match e {
                Event::Changed { account, kinds, .. } => changed.entry(account).or_default().0.extend(kinds),
                Event::Noticed { account } => changed.entry(account).or_default().1 = true,
                Event::QuotaWarning { .. } => {}
            };
            match events.recv().await {
                Ok(e) => note(e),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
            tokio::time::sleep(COALESCE).await;
            loop {
                match events.try_recv() {
                    Ok(e) => note(e),
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            let Some(core) = weak.upgrade() else { return };
            for (account, (kinds, notices)) in changed {
                dispatch(&core, account, &kinds, notices).await;
            }
        }
    });
}

/// How long the dispatcher gathers changes before posting.
const COALESCE: Duration = Duration::from_millis(50);

/// Posts what changed in `account` (kinds, and whether its share notices did) to the owner's
/// subscriptions and those of colleagues who may read the kinds that changed there.
async fn dispatch(core: &Core, account: AccountId, kinds: &BTreeSet<CollectionKind>, notices: bool) {
    let watchers = match core.account_watchers(account).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "push: watchers not read");
            return;
        }
    };
    for (watcher, visible) in watchers {
        let owner = watcher == account;
        let kinds: Vec<_> = kinds.iter().copied().filter(|k| visible.as_ref().is_none_or(|v| v.contains(k))).collect();
        // Share notices go to the owner of the account only.
        let notices = notices && owner;
        if !notices && kinds.is_empty() {
            continue;
        }
        notify(core, watcher, account, &kinds, notices.then_some(account)).await;
    }
}

/// Posts a StateChange about `account` to `watcher`'s live subscriptions that want it.
async fn notify(
    core: &Core,
    watcher: AccountId,
    account: AccountId,
    kinds: &[kontor_domain::model::CollectionKind],
    notices: Option<AccountId>,
) {
    let now = Timestamp::now().rfc3339();
    for (_, o) in subscriptions(core, watcher).await {
        let live = o.get("verified") == Some(&Value::Bool(true))
            && o.get("expires").and_then(Value::as_str).is_some_and(|e| e > now.as_str());
        let Some(url) = o.get("url").and_then(Value::as_str).filter(|_| live) else { continue };
        let wanted: Option<std::collections::HashSet<String>> = o
            .get("types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect());
        if let Some(change) = crate::push::state_change(core, &[account], kinds, notices, wanted.as_ref()).await {
            let url = url.to_owned();
            tokio::spawn(async move { post(&url, change).await });
        }
    }
}
