//! The data plane's view of one alias: where its calls go right now, and how busy it is.
//!
//! The registry swaps the route on connect and disconnect; the proxy reads it once per
//! call. Nothing on a call's path takes a lock: the route is an `ArcSwap` read, activity
//! is atomics, so calls on several worker threads do not wait for each other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::time::Instant;

use crate::pool::Pool;

/// Where an alias's calls go.
#[derive(Debug, Clone)]
pub struct Route {
    pub pool: Arc<Pool>,
    pub dbname: http::HeaderValue,
    pub allow_client_db: bool,
}

#[derive(Debug)]
pub struct AliasHandle {
    pub name: String,
    pub owner_uid: u32,
    route: ArcSwapOption<Route>,
    in_flight: AtomicUsize,
    created: Instant,
    /// When the alias was last used, in milliseconds since `created`.
    last_active: AtomicU64,
    /// Requests whose unusable `:authority` was replaced (grpcio on `unix:`).
    pub authority_rewrites: Arc<AtomicU64>,
    /// Calls forwarded since the alias was created.
    pub calls_total: AtomicU64,
    /// Finished calls by code and latency, and bytes each way.
    pub stats: super::stats::CallStats,
}

/// Marks the alias busy until dropped.
#[derive(Debug)]
pub struct Activity {
    handle: Arc<AliasHandle>,
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.handle.touch();
        self.handle.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AliasHandle {
    pub fn new(name: &str, owner_uid: u32) -> Self {
        Self {
            name: name.to_owned(),
            owner_uid,
            route: ArcSwapOption::empty(),
            in_flight: AtomicUsize::new(0),
            created: Instant::now(),
            last_active: AtomicU64::new(0),
            authority_rewrites: Arc::default(),
            calls_total: AtomicU64::new(0),
            stats: Default::default(),
        }
    }

    pub fn route(&self) -> Option<Arc<Route>> {
        self.route.load_full()
    }

    pub fn set_route(&self, route: Option<Route>) {
        self.route.store(route.map(Arc::new));
        self.touch();
    }

    pub fn begin(self: &Arc<Self>) -> Activity {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.calls_total.fetch_add(1, Ordering::Relaxed);
        Activity {
            handle: self.clone(),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn touch(&self) {
        let since = self.created.elapsed().as_millis();
        self.last_active
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn last_active(&self) -> Instant {
        self.created + Duration::from_millis(self.last_active.load(Ordering::Relaxed))
    }
}

/// Connects an idle alias when a call arrives on its socket. The registry implements it;
/// the proxy holds it as a trait object, which keeps the proxy's futures free of the
/// registry's (and so the type checker free of a cycle through spawned listeners).
pub trait LazyConnect: Send + Sync + std::fmt::Debug {
    fn connect_idle<'a>(
        &'a self,
        alias: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Route>, crate::Error>> + Send + 'a>>;
}
