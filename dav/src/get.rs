//! GET and HEAD: an item's content with its ETag; a collection's member list.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_domain::Node;
use kontor_domain::model::CollectionKind;

use crate::{Ctx, DavResult, xml};

pub async fn get(ctx: &Ctx, head: bool) -> DavResult {
    match ctx.node(&ctx.path).await? {
        Node::Missing { .. } => Err(crate::DavError::new(StatusCode::NOT_FOUND, "no such resource")),
        Node::Item { item, .. } => {
            let etag = item.etag();
            if ctx.header("if-none-match").is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
                return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), &etag));
            }
            let (item, data) = ctx.core.read_item(&ctx.who, item.id).await?;
            let len = data.len();
            let mut r = if head { ((), "").into_response() } else { data.into_response() };
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&item.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            h.insert(
                header::LAST_MODIFIED,
                HeaderValue::from_str(&httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(u64::try_from(item.updated_at.0).unwrap_or(0)),
                ))
                .unwrap_or(HeaderValue::from_static("")),
            );
            Ok(with_etag(r, &etag))
        }
        Node::Collection(a) => {
            let c = &a.collection;
            let mut html =
                format!("<!DOCTYPE html><title>{0}</title><h1>{0}</h1><ul>", xml::escape(&ctx.path.href(true)));
            let children = ctx.core.list_collections(&ctx.who, c.account, Some(CollectionKind::FileFolder)).await?;
            for child in children.iter().filter(|x| x.collection.parent == Some(c.id)) {
                let href = ctx.path.child(&child.collection.name).href(true);
                html.push_str(&format!(
                    "<li><a href=\"{0}\">{1}/</a></li>",
                    xml::escape(&href),
                    xml::escape(&child.collection.name)
                ));
            }
            for item in ctx.core.list_items(&a).await?.iter() {
                let href = ctx.path.child(&item.name).href(false);
                html.push_str(&format!(
                    "<li><a href=\"{0}\">{1}</a></li>",
                    xml::escape(&href),
                    xml::escape(&item.name)
                ));
            }
            html.push_str("</ul>\n");
            let r: Response = if head {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "").into_response()
            } else {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
            };
            Ok(r)
        }
    }
}

pub fn with_etag(mut r: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}
