//! MKCOL: a new folder. A body (extended MKCOL) is not supported for plain folders: 415.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kontor_domain::Node;
use kontor_domain::model::CollectionKind;

use crate::{Ctx, DavError, DavResult, body_bytes};

pub async fn mkcol(ctx: &Ctx, body: Body) -> DavResult {
    let body = body_bytes(body).await?;
    let node = ctx.target(&ctx.path).await?;
    let Node::Missing { parent, name } = node else {
        return Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "something exists at this URL already"));
    };
    if !body.is_empty() {
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "MKCOL with a body is not supported for folders",
        ));
    }
    ctx.check_write(&ctx.path, None, false)?;
    let c = &parent.collection;
    ctx.core.create_collection(&ctx.who, c.account, Some(c.id), CollectionKind::FileFolder, &name, None).await?;
    Ok(StatusCode::CREATED.into_response())
}
