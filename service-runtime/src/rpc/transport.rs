//! The transport: the broker settings shared by a program's RPC clients and
//! servers, and the connection its clients share.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::client::ClientSession;
use super::connection::Settings;
use super::error::TransportError;
use super::options::{MessagingOpts, RabbitOpts};
use crate::config::Conf;

/// The messaging transport of a program: where the broker is and how queues
/// are declared, from `[DEFAULT]` and `[oslo_messaging_rabbit]`.
///
/// Clients made from one transport share one connection and one reply
/// queue, opened at the first call or cast; each [`RpcServer`] opens its own
/// connection. Cloning is cheap and shares everything.
///
/// [`RpcServer`]: super::RpcServer
///
/// # Examples
///
/// ```no_run
/// use service_runtime::rpc::Transport;
///
/// # fn demo(conf: &service_runtime::Conf) -> Result<(), Box<dyn std::error::Error>> {
/// let transport = Transport::from_conf(conf)?;
/// # let _ = transport;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Transport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: Arc<Settings>,
    client: OnceCell<Arc<ClientSession>>,
    closed: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

impl Transport {
    /// The transport the loaded configuration describes.
    ///
    /// # Errors
    ///
    /// A `transport_url` that does not parse, or settings that cannot work
    /// together, each named.
    pub fn from_conf(conf: &Conf) -> Result<Transport, TransportError> {
        Transport::new(conf.group::<MessagingOpts>(), conf.group::<RabbitOpts>())
    }

    /// A transport from option values.
    ///
    /// # Errors
    ///
    /// As [`Transport::from_conf`].
    pub fn new(
        messaging: &MessagingOpts,
        rabbit: &RabbitOpts,
    ) -> Result<Transport, TransportError> {
        let settings = Settings::new(messaging, rabbit)?;
        Ok(Transport {
            inner: Arc::new(Inner {
                settings: Arc::new(settings),
                client: OnceCell::new(),
                closed: CancellationToken::new(),
            }),
        })
    }

    /// The exchange of targets that name none.
    pub fn control_exchange(&self) -> &str {
        &self.inner.settings.control_exchange
    }

    /// How long calls wait for their reply unless a client says otherwise.
    pub fn response_timeout(&self) -> Duration {
        self.inner.settings.response_timeout
    }

    /// How many connections the clients' shared connection has made so
    /// far: 1 after the first connect, more after each reconnection.
    pub fn client_connections(&self) -> u64 {
        self.inner
            .client
            .get()
            .map_or(0, |session| session.connections())
    }

    /// Closes the clients' connection after deleting their reply queue.
    /// Calls still waiting fail with [`CallError::Closed`], and later calls
    /// and casts too. Servers are stopped through their own token.
    ///
    /// [`CallError::Closed`]: super::CallError::Closed
    pub async fn close(&self) {
        self.inner.closed.cancel();
        if let Some(session) = self.inner.client.get() {
            session.closed().await;
        }
    }

    pub(crate) fn settings(&self) -> &Arc<Settings> {
        &self.inner.settings
    }

    /// The clients' session, started on first use; `None` once closed.
    pub(crate) async fn client_session(&self) -> Option<Arc<ClientSession>> {
        if self.inner.closed.is_cancelled() {
            return None;
        }
        let start = || async {
            let cancel = self.inner.closed.child_token();
            ClientSession::start(self.inner.settings.clone(), cancel)
        };
        Some(self.inner.client.get_or_init(start).await.clone())
    }
}

/// The last few message ids seen, to notice a message delivered twice.
#[derive(Debug)]
pub(crate) struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    members: HashSet<String>,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentIds {
            capacity,
            order: VecDeque::with_capacity(capacity),
            members: HashSet::with_capacity(capacity),
        }
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.members.contains(id)
    }

    /// Remembers `id`; false when it was already there.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if self.members.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        self.order.push_back(id.to_string());
        self.members.insert(id.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::RecentIds;

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut recent = RecentIds::new(2);
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(recent.insert("c"));
        assert!(!recent.contains("a"));
        assert!(recent.contains("b") && recent.contains("c"));
    }
}
