//! [`PostgresStore`]: connecting (the pool, the schema check) and running an operation on a
//! pooled connection within bounded time.

use std::future::Future;
use std::sync::Arc;

use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures::FutureExt as _;

use crate::coalesce::Writes;
use crate::config::PostgresConfig;
use crate::error::{PgStoreError, from_pool};
use crate::large::Checked;
use crate::vector::{AnnKeyCell, ScopeSizes};

/// An async closure over a connection whose future is `Send` (what `async_trait` needs).
/// The same device as diesel-async's bound on `AsyncConnection::transaction`.
pub(crate) trait ConnOp<'r, T>:
    AsyncFnOnce(&'r mut AsyncPgConnection) -> Result<T, PgStoreError>
    + FnOnce(&'r mut AsyncPgConnection) -> <Self as ConnOp<'r, T>>::Fut
{
    type Fut: Future<Output = Result<T, PgStoreError>> + Send;
}

impl<'r, T, F, Fut> ConnOp<'r, T> for F
where
    F: AsyncFnOnce(&'r mut AsyncPgConnection) -> Result<T, PgStoreError>
        + FnOnce(&'r mut AsyncPgConnection) -> Fut,
    Fut: Future<Output = Result<T, PgStoreError>> + Send,
{
    type Fut = Fut;
}

/// The connection pool the store runs on.
pub type PgPool = Pool<AsyncPgConnection>;

struct Inner {
    pool: PgPool,
    config: PostgresConfig,
    scope_sizes: ScopeSizes,
    checked: Checked,
    ann_key: AnnKeyCell,
    writes: Writes,
}

/// memory-core's store ports on Postgres + pgvector: [`memory_core::ports::MessageStore`],
/// `VectorSearch`, `LexicalSearch`, `RetentionStore`, `Erasure` and `Timeline` (so
/// `StorePorts::full` takes it). Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool.status())
            .finish()
    }
}

impl PostgresStore {
    /// Builds the pool and checks the schema: the `messages` table must exist (run the
    /// migrations first) and its embedding column must have `config.dimension` dimensions
    /// ([`PgStoreError::DimensionMismatch`] otherwise). A database that cannot be reached is
    /// [`PgStoreError::Unavailable`] within `connect_timeout`.
    ///
    /// Rows written before lexical search have no analysed text until the service's
    /// `MemoryService::analyze_all` fills it in (`LexicalSearch::unanalyzed`); connecting
    /// does not do it, because the store never analyses text itself.
    pub async fn connect(url: &str, config: PostgresConfig) -> Result<Self, PgStoreError> {
        let store = Self::connect_lazily(url, config)?;
        store.check_schema().await?;
        Ok(store)
    }

    /// A store whose connections are made when first needed, without checking the schema:
    /// for a hot standby (its schema is the primary's), which may be down when the server
    /// starts ([`crate::WithStandby`] falls back to the primary meanwhile).
    pub fn connect_lazily(url: &str, config: PostgresConfig) -> Result<Self, PgStoreError> {
        config.validate()?;
        let connect_timeout = config.connect_timeout;
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // `Fast`: a connection that broke is noticed (is_broken) and replaced; no extra
        // round trip per checkout.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            async move {
                match tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(diesel::ConnectionError::BadConnection(format!(
                        "no connection within {connect_timeout:?}"
                    ))),
                }
            }
            .boxed()
        });
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| PgStoreError::Config {
                message: "cannot build the connection pool".into(),
                source: Some(e.into()),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                config,
                scope_sizes: ScopeSizes::default(),
                checked: Checked::default(),
                ann_key: AnnKeyCell::default(),
                writes: Writes::default(),
            }),
        })
    }

    /// The pool, for health checks and tests.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The configuration in force.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    /// Which scopes are large enough for the index, as last counted.
    pub(crate) fn scope_sizes(&self) -> &ScopeSizes {
        &self.inner.scope_sizes
    }

    pub(crate) fn checked(&self) -> &Checked {
        &self.inner.checked
    }

    /// What the HNSW index orders by, once read.
    pub(crate) fn ann_key_cell(&self) -> &AnnKeyCell {
        &self.inner.ann_key
    }

    /// The single inserts waiting to be written together.
    pub(crate) fn writes(&self) -> &Writes {
        &self.inner.writes
    }

    async fn check_schema(&self) -> Result<(), PgStoreError> {
        #[derive(diesel::QueryableByName)]
        struct Typmod {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            atttypmod: i32,
        }
        let rows: Vec<Typmod> = self
            .with_conn("check schema", async |conn| {
                Ok(diesel::sql_query(
                    "SELECT a.atttypmod FROM pg_attribute a \
                         WHERE a.attrelid = to_regclass('messages') \
                         AND a.attname = 'embedding' AND NOT a.attisdropped",
                )
                .load(conn)
                .await?)
            })
            .await?;
        let Some(row) = <[Typmod]>::first(&rows) else {
            return Err(PgStoreError::Schema(
                "table messages with column embedding not found: apply the migrations \
                 (`memory-server migrate`, or MEMORY_AUTO_MIGRATE=true)"
                    .into(),
            ));
        };
        let configured = self.inner.config.dimension;
        // pgvector stores the dimension as the column's type modifier (-1: unconstrained).
        let stored = usize::try_from(row.atttypmod).map_err(|_| {
            PgStoreError::Schema("messages.embedding has no fixed dimension".into())
        })?;
        if stored != configured {
            return Err(PgStoreError::DimensionMismatch { configured, stored });
        }
        Ok(())
    }

    /// A pooled connection for an operation of several steps that waits on its caller between
    /// them ([`MessageStore::insert_parts`](memory_core::ports::MessageStore::insert_parts)):
    /// waiting for it is bounded by the pool's timeouts, each step by [`Self::step`]. A
    /// caller that fails part-way discards it ([`Object::take`]): it may be inside a
    /// transaction or a query.
    pub(crate) async fn checkout(
        &self,
        what: &'static str,
    ) -> Result<Object<AsyncPgConnection>, PgStoreError> {
        let config = &self.inner.config;
        self.inner.pool.get().await.map_err(|e| {
            from_pool(
                e,
                format!(
                    "{what}; pool of {}, wait {:?}, connect {:?}",
                    config.pool_size, config.acquire_timeout, config.connect_timeout
                ),
            )
        })
    }

    /// One step of a [`Self::checkout`] operation (or the whole of a [`Self::with_conn`] one),
    /// bounded by the operation timeout: past it, [`PgStoreError::Unavailable`].
    pub(crate) async fn step<T>(
        &self,
        what: &'static str,
        step: impl Future<Output = Result<T, PgStoreError>>,
    ) -> Result<T, PgStoreError> {
        let limit = self.inner.config.operation_timeout;
        tokio::time::timeout(limit, step)
            .await
            .unwrap_or_else(|elapsed| {
                Err(PgStoreError::unavailable_from(
                    format!("{what} took longer than {limit:?}"),
                    elapsed,
                ))
            })
    }

    /// Runs `f` on a pooled connection: waiting for it is bounded by the pool's timeouts, and
    /// `f` by the operation timeout. A connection that timed out or failed as unavailable is
    /// discarded, not reused.
    pub(crate) async fn with_conn<T, F>(&self, what: &'static str, f: F) -> Result<T, PgStoreError>
    where
        T: Send,
        F: for<'r> ConnOp<'r, T> + Send,
    {
        let mut conn = self.checkout(what).await?;
        let result = self.step(what, f(&mut conn)).await;
        if result.as_ref().is_err_and(PgStoreError::is_unavailable) {
            // The connection failed under the call (closed, reset, terminated: the driver may
            // not have noticed yet), or the call timed out and its query may still be
            // running: never hand this connection out again.
            drop(Object::take(conn));
        }
        result
    }
}
