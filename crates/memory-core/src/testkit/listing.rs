//! Contract checks of [`Listing`]: every filter, both orders, keyset pages that neither
//! repeat nor skip, one tenant only.

use chrono::Duration;

use super::{Fixture, archive_old, basis, conv, insert, t0, tenant};
use crate::domain::{Message, MessageId, Position, Role, SortOrder};
use crate::ports::{ListQuery, Listing, MessageStore, RetentionStore};

/// A tenant-wide listing query, oldest first, everything included.
pub fn list_query(t: &str, limit: usize) -> ListQuery {
    ListQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        role: None,
        archived: None,
        created_after: None,
        created_before: None,
        order: SortOrder::Asc,
        after: None,
        limit,
        with_embeddings: false,
    }
}

async fn ids<S: Listing + ?Sized>(store: &S, q: &ListQuery) -> Vec<MessageId> {
    store
        .list(q)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// Reads every page of `q` with `page` messages each, following the keyset.
pub async fn all_pages<S: Listing + ?Sized>(store: &S, q: &ListQuery, page: usize) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    let mut q = ListQuery {
        limit: page,
        ..q.clone()
    };
    loop {
        let got = store.list(&q).await.expect("list page");
        let done = got.len() < page;
        if let Some(last) = got.last() {
            q.after = Some(Position {
                created_at: last.created_at,
                id: last.id,
            });
        }
        out.extend(got);
        if done {
            return out;
        }
    }
}

/// `(created_at, id)` order both ways, ties broken by id, keyset pages that cover the whole
/// listing exactly once, and no other tenant's messages.
pub async fn orders_and_pages<S: MessageStore + Listing>(store: &S, dim: usize) {
    let mut expected = Vec::new();
    for i in 0..7_i64 {
        // Pairs of messages share a timestamp: the id breaks the tie.
        let m = Fixture::new("acme", if i % 2 == 0 { "c1" } else { "c2" }, dim)
            .created(t0() - Duration::minutes(i / 2))
            .embedded(basis(dim, 1))
            .build();
        insert(store, &m).await.expect("insert");
        expected.push((m.created_at, m.id));
    }
    let other = Fixture::new("globex", "c1", dim).build();
    insert(store, &other).await.expect("insert");
    expected.sort();
    let asc: Vec<MessageId> = expected.iter().map(|(_, id)| *id).collect();
    let listed = store.list(&list_query("acme", 100)).await.expect("list");
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        asc,
        "ascending (created_at, id)"
    );
    assert!(
        listed.iter().all(|m| m.embedding.is_none()),
        "embeddings are left out unless asked for"
    );
    let with = store
        .list(&ListQuery {
            with_embeddings: true,
            ..list_query("acme", 100)
        })
        .await
        .expect("list");
    assert!(
        with.iter().all(|m| m.embedding.is_some()),
        "with_embeddings reads them"
    );
    let desc_q = ListQuery {
        order: SortOrder::Desc,
        ..list_query("acme", 100)
    };
    let mut desc = asc.clone();
    desc.reverse();
    assert_eq!(ids(store, &desc_q).await, desc, "descending");
    for page in [1, 2, 3, 7] {
        let got: Vec<MessageId> = all_pages(store, &list_query("acme", 0), page)
            .await
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(got, asc, "ascending pages of {page}");
        let got: Vec<MessageId> = all_pages(store, &desc_q, page)
            .await
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(got, desc, "descending pages of {page}");
    }
    assert_eq!(ids(store, &list_query("acme", 3)).await, asc[..3], "limit");
}

/// Conversation, role, archived and the half-open time range filter; a listing includes
/// archived messages unless told otherwise.
pub async fn filters<S: MessageStore + Listing + RetentionStore>(store: &S, dim: usize) {
    let old = Fixture::new("acme", "c1", dim)
        .created(t0() - Duration::days(40))
        .build();
    let user = Fixture::new("acme", "c1", dim)
        .created(t0() - Duration::hours(2))
        .build();
    let assistant = Fixture::new("acme", "c2", dim)
        .role(Role::Assistant)
        .created(t0() - Duration::hours(1))
        .build();
    for m in [&old, &user, &assistant] {
        insert(store, m).await.expect("insert");
    }
    assert_eq!(archive_old(store, "acme").await, 1);
    let q = || list_query("acme", 100);
    assert_eq!(
        ids(store, &q()).await,
        [old.id, user.id, assistant.id],
        "archived included"
    );
    assert_eq!(
        ids(
            store,
            &ListQuery {
                archived: Some(true),
                ..q()
            }
        )
        .await,
        [old.id],
        "only archived"
    );
    assert_eq!(
        ids(
            store,
            &ListQuery {
                archived: Some(false),
                ..q()
            }
        )
        .await,
        [user.id, assistant.id],
        "only live"
    );
    assert_eq!(
        ids(
            store,
            &ListQuery {
                conversation_id: Some(conv("c1")),
                ..q()
            }
        )
        .await,
        [old.id, user.id],
        "conversation"
    );
    assert_eq!(
        ids(
            store,
            &ListQuery {
                role: Some(Role::Assistant),
                ..q()
            }
        )
        .await,
        [assistant.id],
        "role"
    );
    assert_eq!(
        ids(
            store,
            &ListQuery {
                created_after: Some(user.created_at),
                created_before: Some(assistant.created_at),
                ..q()
            }
        )
        .await,
        [user.id],
        "created_after is inclusive, created_before exclusive"
    );
    assert!(
        ids(store, &list_query("globex", 100)).await.is_empty(),
        "tenant scope"
    );
}

/// Conversations: one summary per conversation of the tenant (archived messages counted),
/// most recently active first with ties broken by id descending, keyset pages, one tenant.
pub async fn conversations<S: MessageStore + Listing + RetentionStore>(store: &S, dim: usize) {
    use crate::ports::ConversationQuery;
    // c-old: an archived message 40 days back and a live one 10 days back; c-a and c-b end
    // at the same instant (the id breaks the tie); c-new is the most recent.
    let plan = [
        ("c-old", 40 * 24 * 60),
        ("c-old", 10 * 24 * 60),
        ("c-a", 60),
        ("c-b", 120),
        ("c-b", 60),
        ("c-new", 5),
        ("c-new", 1),
        ("c-new", 0),
    ];
    for (c, minutes) in plan {
        let m = Fixture::new("acme", c, dim)
            .created(t0() - Duration::minutes(minutes))
            .build();
        insert(store, &m).await.expect("insert");
    }
    insert(store, &Fixture::new("globex", "c-x", dim).build())
        .await
        .expect("insert");
    assert_eq!(archive_old(store, "acme").await, 1);
    let query = |limit, before| ConversationQuery {
        tenant_id: tenant("acme"),
        before,
        limit,
    };
    let all = store
        .conversations(&query(100, None))
        .await
        .expect("conversations");
    let summary: Vec<(&str, u64, u64)> = all
        .iter()
        .map(|c| (c.conversation_id.as_str(), c.messages, c.archived))
        .collect();
    assert_eq!(
        summary,
        [
            ("c-new", 3, 0),
            ("c-b", 2, 0),
            ("c-a", 1, 0),
            ("c-old", 2, 1)
        ],
        "newest activity first, ties by id descending, archived counted"
    );
    let old = &all[3];
    assert_eq!(old.first_message_at, t0() - Duration::days(40));
    assert_eq!(old.last_message_at, t0() - Duration::days(10));
    assert_eq!(all[0].last_message_at, t0());
    for page in [1, 2, 3] {
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let part = store
                .conversations(&query(page, before.clone()))
                .await
                .expect("page");
            let done = part.len() < page;
            before = part
                .last()
                .map(|c| (c.last_message_at, c.conversation_id.clone()));
            got.extend(part);
            if done {
                break;
            }
        }
        assert_eq!(got, all, "pages of {page}");
    }
    let none = store
        .conversations(&ConversationQuery {
            tenant_id: tenant("initech"),
            before: None,
            limit: 10,
        })
        .await
        .expect("empty tenant");
    assert!(none.is_empty());
}
