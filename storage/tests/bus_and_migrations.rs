//! The PostgreSQL event bus across "nodes", and migrations down and up on both databases.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use kontor_domain::events::{Event, EventBus};
use kontor_domain::ids::{Modseq, PrincipalId};
use kontor_domain::model::CollectionKind;
use kontor_migrations::{Migrator, MigratorTrait};
use kontor_storage::{LocalBus, PgBus};
use sea_orm::ConnectionTrait;

fn event(n: i64) -> Event {
    Event::Changed { account: PrincipalId(1), modseq: Modseq(n), kinds: vec![CollectionKind::MailFolder] }
}

async fn next(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("event within 10 s").unwrap()
}

#[tokio::test]
async fn pg_bus_carries_events_between_nodes_in_order() {
    let url = support::pg_base();
    let pool_a = sea_orm::sqlx::PgPool::connect(&url).await.expect("PostgreSQL is needed for this test");
    let pool_b = sea_orm::sqlx::PgPool::connect(&url).await.unwrap();
    let node_a = PgBus::start(pool_a).await.unwrap();
    let node_b = PgBus::start(pool_b).await.unwrap();
    let mut on_a = node_a.subscribe();
    let mut on_b = node_b.subscribe();
    for n in 1..=5 {
        node_a.publish(event(n));
    }
    for n in 1..=5 {
        assert_eq!(next(&mut on_b).await, event(n), "the other node hears it, in order");
        assert_eq!(next(&mut on_a).await, event(n), "the publishing node hears it too");
    }
}

#[tokio::test]
async fn local_bus_delivers_to_every_subscriber() {
    let bus = LocalBus::new();
    let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
    bus.publish(event(7));
    assert_eq!(next(&mut a).await, event(7));
    assert_eq!(next(&mut b).await, event(7));
}

async fn migrations_roll_back_and_forward(url: &str) {
    let db = kontor_storage::connect(url, 2).await.unwrap();
    kontor_storage::migrate(&db).await.unwrap();
    assert_eq!(kontor_storage::migrate(&db).await.unwrap(), 0, "nothing pending the second time");
    Migrator::down(&db, None).await.unwrap();
    let r = db.execute_unprepared("SELECT count(*) FROM principals").await;
    assert!(r.is_err(), "tables gone after rolling back");
    assert_eq!(kontor_storage::migrate(&db).await.unwrap(), Migrator::migrations().len());
    db.execute_unprepared("SELECT count(*) FROM principals").await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn migrations_roll_back_and_forward_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    migrations_roll_back_and_forward(&format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display())).await;
}

#[tokio::test]
async fn migrations_roll_back_and_forward_on_postgres() {
    let base = support::pg_base();
    let name = format!("kontor_test_{:016x}", rand::random::<u64>());
    let admin = sea_orm::Database::connect(base.clone()).await.expect("PostgreSQL is needed for this test");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    migrations_roll_back_and_forward(&support::with_db(&base, &name)).await;
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
}
