//! `memory-client` on the real stack (the real model, both stores, loopback HTTP): the
//! lifecycle in mem0's verbs, answers that find what was stored, and the isolation of
//! tenant-bound keys as the client sees it.

use memory_client::types::requests::{
    CreateBatch, CreateMessage, ListMessages, Search, UpdateMessage,
};
use memory_client::types::{EmbeddingStatusDto, RoleDto};
use memory_client::{Error, MemoryClient};

use crate::for_each_store;
use crate::helpers::{StoreKind, spawn_app, spawn_app_with};

for_each_store!(
    the_client_adds_finds_updates_and_deletes,
    tenant_bound_keys_hold_through_the_client,
    the_client_reads_tenants_conversations_and_the_retention_preview
);

async fn the_client_reads_tenants_conversations_and_the_retention_preview(kind: StoreKind) {
    let app = spawn_app_with(kind, |s| s.api_keys = "admin-key,acme-key:acme".into()).await;
    let client = |key: &str| {
        MemoryClient::builder(&app.address)
            .api_key(key)
            .build()
            .expect("client")
    };
    let (admin, acme) = (client("admin-key"), client("acme-key"));
    for (tenant, conversation) in [("acme", "c1"), ("acme", "c2"), ("globex", "g1")] {
        let m = CreateMessage::new(tenant, conversation, RoleDto::User, "My dog is called Rex");
        admin.add(&m).await.expect("add");
    }
    let all = admin.tenants().await.expect("tenants");
    assert!(all.admin);
    assert_eq!(all.tenants, ["acme", "globex"]);
    let mine = acme.tenants().await.expect("tenants");
    assert_eq!((mine.admin, mine.tenants), (false, vec!["acme".to_owned()]));
    let first = acme
        .conversations("acme", Some(1), None)
        .await
        .expect("page");
    assert_eq!(
        first.conversations[0].conversation_id, "c2",
        "most recent first"
    );
    let cursor = first.next_cursor.expect("a second page");
    let second = acme
        .conversations("acme", Some(1), Some(&cursor))
        .await
        .expect("page");
    assert_eq!(second.conversations[0].conversation_id, "c1");
    assert!(second.next_cursor.is_none());
    match acme.conversations("globex", None, None).await {
        Err(Error::Api(e)) => assert_eq!(e.status, 403),
        other => panic!("another tenant: {other:?}"),
    }
    let preview = acme
        .retention_preview("acme", Some(5))
        .await
        .expect("preview");
    assert_eq!(preview.policy.max_age_days, 30);
    assert_eq!(
        preview.archive.sample.len() as u64,
        preview.archive.count.min(5)
    );
}

async fn the_client_adds_finds_updates_and_deletes(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let c = MemoryClient::new(&app.address).expect("client");
    let pet = c
        .add(&CreateMessage::new(
            "acme",
            "c1",
            RoleDto::User,
            "My dog is called Biscuit",
        ))
        .await
        .expect("add");
    assert_eq!(pet.embedding_status, EmbeddingStatusDto::Completed);
    let batch = CreateBatch {
        tenant_id: "acme".into(),
        messages: vec![
            CreateMessage::new("acme", "c1", RoleDto::User, "I work as a nurse in Porto").into(),
            CreateMessage::new("acme", "c2", RoleDto::User, "Remind me to buy oat milk").into(),
        ],
    };
    assert_eq!(c.add_batch(&batch).await.expect("batch").created, 2);

    let mut q = Search::new("acme", "what is the name of my pet?");
    q.top_k = Some(3);
    let found = c.search(&q).await.expect("search");
    assert_eq!(found.items[0].message_id, pet.id, "{found:?}");

    let patch = UpdateMessage {
        content: Some("My cat is called Pixel".into()),
        ..UpdateMessage::default()
    };
    c.update(pet.id, &patch).await.expect("update");
    let mut q = Search::new("acme", "Biscuit");
    q.mode = Some(memory_client::types::SearchModeDto::Lexical);
    assert!(
        c.search(&q).await.expect("search").items.is_empty(),
        "the old content is no longer found"
    );
    let found = c
        .search(&Search::new("acme", "the cat's name"))
        .await
        .expect("search");
    assert_eq!(found.items[0].content, "My cat is called Pixel");
    assert_eq!(c.history(pet.id).await.expect("history").entries.len(), 1);

    assert_eq!(
        c.get_all(&ListMessages::new("acme"))
            .await
            .expect("all")
            .len(),
        3
    );
    c.delete(pet.id).await.expect("delete");
    let gone = c.get(pet.id).await.expect_err("deleted");
    assert!(matches!(&gone, Error::Api(e) if e.is_not_found()), "{gone}");
    assert_eq!(c.delete_all("acme").await.expect("erase").deleted, 2);
}

async fn tenant_bound_keys_hold_through_the_client(kind: StoreKind) {
    let app = spawn_app_with(kind, |s| s.api_keys = "admin-key,acme-key:acme".into()).await;
    let admin = MemoryClient::builder(&app.address)
        .api_key("admin-key")
        .build()
        .expect("client");
    let acme = MemoryClient::builder(&app.address)
        .api_key("acme-key")
        .build()
        .expect("client");
    let anonymous = MemoryClient::new(&app.address).expect("client");
    let secret = admin
        .add(&CreateMessage::new(
            "globex",
            "g",
            RoleDto::User,
            "globex secret plan",
        ))
        .await
        .expect("admin writes anywhere");

    let e = anonymous.get(secret.id).await.expect_err("no key");
    assert_eq!((e.status(), e.code()), (Some(401), Some("unauthorized")));
    let e = acme
        .add(&CreateMessage::new("globex", "g", RoleDto::User, "x"))
        .await
        .expect_err("another tenant");
    assert_eq!((e.status(), e.code()), (Some(403), Some("forbidden")));
    let e = acme.get(secret.id).await.expect_err("invisible");
    assert_eq!(e.status(), Some(404));
    let e = acme.delete(secret.id).await.expect_err("invisible");
    assert_eq!(e.status(), Some(404));
    assert_eq!(
        admin.get(secret.id).await.expect("still there").id,
        secret.id
    );
    assert_eq!(acme.retries() + admin.retries() + anonymous.retries(), 0);
}
