//! JMAP over WebSocket (RFC 8887): requests and responses as text messages on one connection
//! (subprotocol `jmap`), and push: after WebSocketPushEnable the server sends a StateChange
//! whenever the event bus says a visible account changed.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use kontor_domain::auth::Authenticated;
use kontor_domain::events::Event;
use kontor_domain::model::Principal;
use serde_json::{Value, json};

use crate::Jmap;
use crate::error::RequestError;

/// `GET /jmap/ws` with an upgrade to a WebSocket speaking `jmap`.
pub async fn upgrade(
    State(j): State<Jmap>,
    Extension(who): Extension<Authenticated>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.protocols(["jmap"])
        .max_message_size(j.limits.max_size_request)
        .on_upgrade(move |socket| serve(j, who.principal, socket))
        .into_response()
}

/// Whether push is on, and for which types.
enum Push {
    Off,
    /// `None`: every type.
    On(Option<HashSet<String>>),
}

/// The answer to one client message, if it has one.
async fn answer(j: &Jmap, who: &Principal, text: &str, push: &mut Push) -> Option<Value> {
    let error = |id: Option<&Value>, e: RequestError| {
        let mut v = e.to_value();
        v["@type"] = json!("RequestError");
        if let Some(id) = id {
            v["requestId"] = id.clone();
        }
        Some(v)
    };
    let Ok(Value::Object(mut msg)) = serde_json::from_str::<Value>(text) else {
        return error(None, RequestError::not_json("a message is one JSON object"));
    };
    match msg.get("@type").and_then(Value::as_str) {
        Some("Request") => {
            let id = msg.remove("id");
            msg.remove("@type");
            match crate::api::run(j, who, Value::Object(msg)).await {
                Ok(mut v) => {
                    v["@type"] = json!("Response");
                    if let Some(id) = id {
                        v["requestId"] = id;
                    }
                    Some(v)
                }
                Err(e) => error(id.as_ref(), e),
            }
        }
        Some("WebSocketPushEnable") => {
            let types = msg
                .get("dataTypes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect::<HashSet<String>>());
            *push = Push::On(types);
            None
        }
        Some("WebSocketPushDisable") => {
            *push = Push::Off;
            None
        }
        _ => error(
            msg.get("id"),
            RequestError::not_request("@type must be Request, WebSocketPushEnable or WebSocketPushDisable"),
        ),
    }
}

async fn serve(j: Jmap, who: Principal, mut socket: WebSocket) {
    let mut events = j.core.bus.subscribe();
    let accounts = crate::push::visible_accounts(&j.core, &who).await;
    let mut push = Push::Off;
    loop {
        tokio::select! {
            m = socket.recv() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                };
                if let Some(v) = answer(&j, &who, &text, &mut push).await
                    && socket.send(Message::Text(v.to_string().into())).await.is_err()
                {
                    return;
                }
            }
            e = events.recv() => {
                let (account, kinds, notices) = match e {
                    Ok(Event::Changed { account, kinds, .. }) => (account, kinds, None),
                    Ok(Event::Noticed { account }) if account == who.id => (account, Vec::new(), Some(account)),
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        use kontor_domain::model::CollectionKind as K;
                        (who.id, vec![K::MailFolder, K::AddressBook, K::Calendar], Some(who.id))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Push::On(wanted) = &push else { continue };
                if !accounts.contains(&account) {
                    continue;
                }
                if let Some(change) = crate::push::state_change(&j.core, &[account], &kinds, notices, wanted.as_ref()).await
                    && socket.send(Message::Text(change.to_string().into())).await.is_err()
                {
                    return;
                }
            }
        }
    }
}
