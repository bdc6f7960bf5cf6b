//! DELETE: an item, or a collection with everything in it.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use kontor_domain::Node;

use crate::put::preconditions;
use crate::{Ctx, DavError, DavResult};

pub async fn delete(ctx: &Ctx) -> DavResult {
    match ctx.node(&ctx.path).await? {
        Node::Missing { .. } => Err(DavError::new(StatusCode::NOT_FOUND, "no such resource")),
        Node::Item { item, .. } => {
            let etag = item.etag();
            preconditions(ctx, Some(&etag))?;
            ctx.check_write(&ctx.path, Some(&etag), false)?;
            ctx.core.remove_item(&ctx.who, item.id, None).await?;
            ctx.locks.forget(&ctx.path);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Node::Collection(a) => {
            if ctx.path.segments.is_empty() {
                return Err(DavError::new(StatusCode::FORBIDDEN, "the top of the drive cannot be deleted"));
            }
            let etag = format!("\"c{}-{}\"", a.collection.id, a.collection.modseq);
            preconditions(ctx, Some(&etag))?;
            ctx.check_write(&ctx.path, Some(&etag), true)?;
            ctx.core.remove_collection(&ctx.who, a.collection.id).await?;
            ctx.locks.forget(&ctx.path);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}
