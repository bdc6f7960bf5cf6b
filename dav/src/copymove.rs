//! COPY and MOVE (RFC 4918 §9.8–9.9) inside one drive.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use kontor_domain::model::{Collection, CollectionKind};
use kontor_domain::ports::PropTarget;
use kontor_domain::{Access, Node};

use crate::paths;
use crate::{Ctx, DavError, DavResult};

pub async fn copy_move(ctx: &Ctx, is_move: bool) -> DavResult {
    let dest = ctx
        .header("destination")
        .ok_or_else(|| DavError::new(StatusCode::BAD_REQUEST, "Destination header missing"))?;
    let dest = match paths::parse(dest) {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(DavError::new(
                StatusCode::BAD_GATEWAY,
                "the destination is not in a file drive of this server",
            ));
        }
        Err(e) => return Err(DavError::new(StatusCode::BAD_REQUEST, e.0)),
    };
    if dest.owner != ctx.path.owner || dest.area != ctx.path.area {
        return Err(DavError::new(StatusCode::FORBIDDEN, "copy and move stay inside one home"));
    }
    let overwrite = !ctx.header("overwrite").is_some_and(|v| v.trim().eq_ignore_ascii_case("f"));
    let infinite = match ctx.header("depth").map(str::trim) {
        None | Some("infinity") => true,
        Some("0") if !is_move => false,
        _ => return Err(DavError::new(StatusCode::BAD_REQUEST, "Depth must be infinity (or 0 for COPY)")),
    };
    let source = ctx.node(&ctx.path).await?;
    if matches!(source, Node::Missing { .. }) {
        return Err(DavError::new(StatusCode::NOT_FOUND, "no such resource"));
    }
    if ctx.path.segments.is_empty() && is_move {
        return Err(DavError::new(StatusCode::FORBIDDEN, "the top of the drive cannot be moved"));
    }
    if dest == ctx.path || (matches!(source, Node::Collection(_)) && ctx.path.contains(&dest)) {
        return Err(DavError::new(StatusCode::FORBIDDEN, "the destination is the source or inside it"));
    }
    if is_move {
        ctx.check_write(&ctx.path, None, true)?;
    }
    let (parent, name, existed) = match ctx.target(&dest).await? {
        Node::Missing { parent, name } => (parent, name, false),
        existing => {
            if !overwrite {
                return Err(DavError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "the destination exists and Overwrite is F",
                ));
            }
            ctx.check_write(&dest, None, true)?;
            match existing {
                Node::Item { item, .. } => ctx.core.remove_item(&ctx.who, item.id, None).await?,
                Node::Collection(a) => ctx.core.remove_collection(&ctx.who, a.collection.id).await?,
                Node::Missing { .. } => {}
            }
            ctx.locks.forget(&dest);
            match ctx.target(&dest).await? {
                Node::Missing { parent, name } => (parent, name, true),
                _ => return Err(DavError::new(StatusCode::CONFLICT, "the destination came back meanwhile")),
            }
        }
    };
    if dest.segments.is_empty() {
        return Err(DavError::new(StatusCode::FORBIDDEN, "cannot replace the top of the drive"));
    }
    ctx.check_write(&dest, None, false)?;
    match source {
        Node::Item { item, .. } => {
            if is_move {
                ctx.core.move_item(&ctx.who, item.id, parent.collection.id, &name).await?;
            } else {
                ctx.core.copy_item(&ctx.who, item.id, parent.collection.id, &name).await?;
            }
        }
        Node::Collection(_) if ctx.path.area != crate::paths::Area::Files => {
            return Err(DavError::new(StatusCode::FORBIDDEN, "calendars and address books are not copied or moved"));
        }
        Node::Collection(a) => {
            if is_move {
                ctx.core.move_collection(&ctx.who, a.collection.id, parent.collection.id, &name).await?;
            } else {
                copy_tree(ctx, &a, &parent.collection, &name, infinite).await?;
            }
        }
        Node::Missing { .. } => {}
    }
    if is_move {
        ctx.locks.forget(&ctx.path);
    }
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED }.into_response())
}

/// Copies a folder (with its dead properties) and, with `infinite`, everything below it.
async fn copy_tree(ctx: &Ctx, from: &Access, into: &Collection, name: &str, infinite: bool) -> Result<(), DavError> {
    let core = &ctx.core;
    let mut stack = vec![(from.clone(), into.clone(), name.to_owned())];
    while let Some((src, parent, name)) = stack.pop() {
        let copy = core
            .create_collection(&ctx.who, parent.account, Some(parent.id), CollectionKind::FileFolder, &name, None)
            .await?;
        let props = core.dead_properties(&ctx.who, PropTarget::Collection(src.collection.id)).await?;
        if !props.is_empty() {
            core.update_dead_properties(&ctx.who, PropTarget::Collection(copy.id), props, Vec::new()).await?;
        }
        if !infinite {
            continue;
        }
        for item in core.list_items(&src).await?.iter() {
            core.copy_item(&ctx.who, item.id, copy.id, &item.name).await?;
        }
        let children =
            core.list_collections(&ctx.who, src.collection.account, Some(CollectionKind::FileFolder)).await?;
        for child in children.into_iter().filter(|c| c.collection.parent == Some(src.collection.id)) {
            let n = child.collection.name.clone();
            stack.push((child, copy.clone(), n));
        }
    }
    Ok(())
}
