//! Blobs (RFC 8620 §6): upload, download and Blob/copy. A blob id is the content's SHA-256
//! (uploads, whole messages) or a message's blob and a part number (`<sha256>-<n>`, a part's
//! decoded content). A blob is readable through an account when it was uploaded there or a
//! message the caller may read there holds it.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_domain::Core;
use kontor_domain::auth::Authenticated;
use kontor_domain::ids::{AccountId, BlobId};
use kontor_domain::model::Principal;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, MethodResult, RequestError, SetError};
use crate::{Jmap, ids};

/// The bytes and media type of a blob the caller may read through the account.
pub async fn read(
    core: &Core,
    who: &Principal,
    account: AccountId,
    blob: &str,
) -> Result<Option<(bytes::Bytes, String)>, kontor_domain::Error> {
    let (hex, part) = match blob.split_once('-') {
        Some((h, p)) => (h, Some(p.parse::<usize>().ok())),
        None => (blob, None),
    };
    let Some(id) = BlobId::parse(hex) else { return Ok(None) };
    if core.uploaded(who, account, &id).await?.is_some()
        && let Some(bytes) = core.uploaded_bytes(who, account, &id).await?
    {
        return Ok(match part {
            None => core.uploaded(who, account, &id).await?.map(|(media, _)| (bytes, media)),
            Some(None) => None,
            Some(Some(n)) => crate::email::render::part_content(&bytes, n).map(|(b, t)| (bytes::Bytes::from(b), t)),
        });
    }
    let view = match core.mail_view(who, account).await {
        Ok(v) => v,
        Err(kontor_domain::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(message) = core.view_message_with_blob(&view, &id).await? else { return Ok(None) };
    let raw = core.view_message_bytes(&view, &message).await?;
    match part {
        None => Ok(Some((raw, "message/rfc822".to_owned()))),
        Some(None) => Ok(None),
        Some(Some(n)) => Ok(crate::email::render::part_content(&raw, n).map(|(b, t)| (bytes::Bytes::from(b), t))),
    }
}

/// `POST /jmap/upload/{accountId}/`.
pub async fn upload(
    State(j): State<Jmap>,
    Extension(who): Extension<Authenticated>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(account_id) = ids::parse_account(&account) else {
        return RequestError::status(StatusCode::NOT_FOUND, "no such account").into_response();
    };
    if account_id != who.principal.id {
        return RequestError::status(StatusCode::FORBIDDEN, "uploads go to your own account").into_response();
    }
    let limit = usize::try_from(j.limits.max_size_upload).unwrap_or(usize::MAX);
    let Ok(data) = axum::body::to_bytes(body, limit).await else {
        return RequestError::limit("maxSizeUpload", format!("the upload is larger than {limit} bytes"))
            .into_response();
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    match j.core.upload(&who.principal, account_id, &data, &media).await {
        Ok(blob) => (
            StatusCode::CREATED,
            axum::Json(json!({ "accountId": account, "blobId": blob.as_str(), "type": media, "size": data.len() })),
        )
            .into_response(),
        Err(e @ kontor_domain::Error::TooLarge { .. }) => {
            RequestError::limit("maxSizeUpload", e.to_string()).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "upload failed");
            RequestError::status(StatusCode::INTERNAL_SERVER_ERROR, "the upload failed; the failure was logged")
                .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
pub struct DownloadQuery {
    #[serde(rename = "type")]
    media: Option<String>,
}

/// `GET /jmap/download/{accountId}/{blobId}/{name}?type=`.
pub async fn download(
    State(j): State<Jmap>,
    Extension(who): Extension<Authenticated>,
    Path((account, blob, name)): Path<(String, String, String)>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let not_found = || RequestError::status(StatusCode::NOT_FOUND, "no such blob").into_response();
    let Some(account) = ids::parse_account(&account) else { return not_found() };
    match read(&j.core, &who.principal, account, &blob).await {
        Ok(Some((bytes, media))) => {
            let media = q.media.filter(|t| !t.is_empty() && !t.contains(['\r', '\n'])).unwrap_or(media);
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&media).unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            let file: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
            let encoded = percent_encoding::utf8_percent_encode(&file, percent_encoding::NON_ALPHANUMERIC);
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            // Blob ids name their content: it never changes.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, immutable, max-age=31536000"));
            r
        }
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "download failed");
            RequestError::status(StatusCode::INTERNAL_SERVER_ERROR, "the download failed; the failure was logged")
                .into_response()
        }
    }
}

/// `Blob/copy` (RFC 8620 §6.3): blobs the caller may read in one account, uploaded to another.
pub async fn copy(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    crate::generic::known_arguments(args, &["fromAccountId", "accountId", "blobIds"])?;
    let from = match args.get("fromAccountId") {
        Some(Value::String(s)) => ids::parse_account(s).ok_or_else(MethodError::account_not_found)?,
        _ => return Err(MethodError::invalid_arguments("fromAccountId must be an account id")),
    };
    let to = ctx.account(args)?;
    if to != ctx.who.id {
        return Err(MethodError::account_not_found());
    }
    let blobs = crate::generic::string_list(args, "blobIds")?.unwrap_or_default();
    let (mut copied, mut not_copied) = (Map::new(), Map::new());
    for b in blobs {
        match read(ctx.core, ctx.who, from, &b).await? {
            Some((bytes, media)) => {
                let id = ctx.core.upload(ctx.who, to, &bytes, &media).await?;
                copied.insert(b, json!(id.as_str()));
            }
            None => {
                not_copied.insert(b, SetError::not_found().to_value());
            }
        }
    }
    let or_null = crate::generic::or_null;
    Ok(json!({
        "fromAccountId": ids::account(from),
        "accountId": ids::account(to),
        "copied": or_null(copied),
        "notCopied": or_null(not_copied),
    }))
}
