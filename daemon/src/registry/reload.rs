//! Reloading the config file's aliases (SIGHUP, `POST /v1/reload`): unchanged aliases
//! keep their channels and leases; changed ones get new channels before the old ones stop
//! taking calls; removed ones drain and close; aliases added through the API are left
//! alone. A file that does not validate is refused whole and nothing changes.

use std::collections::BTreeMap;
use std::path::Path;

use milvus_connd_protocol::{ConnectParams, ReloadReport};

use super::{Registry, lock};
use crate::config;
use crate::error::{Error, Result};
use crate::peer::Peer;
use crate::{resolve, secrets};

impl Registry {
    /// Re-reads the config file at `path` and applies its aliases.
    pub async fn reload(&self, path: &Path) -> Result<ReloadReport> {
        let file = config::check(path).map_err(|e| Error::param(format!("reload refused: {e}")))?;
        let wanted: BTreeMap<String, ConnectParams> = file.aliases;
        let before = lock(&self.config_aliases).clone();
        let mut report = ReloadReport::default();
        let internal = Peer::internal();
        for name in before.iter().filter(|name| !wanted.contains_key(*name)) {
            match self.remove(&internal, name).await {
                Ok(()) | Err(Error::AliasNotFound(_)) => report.removed.push(name.clone()),
                Err(err) => {
                    tracing::warn!(alias = name, error = %err, "cannot remove the config file's old alias")
                }
            }
        }
        for (name, params) in wanted {
            lock(&self.config_aliases).insert(name.clone());
            let stored = lock(&self.aliases).get(&name).map(|a| a.params.clone());
            match stored {
                None => {
                    self.add(&internal, &name, params).await?;
                    report.added.push(name);
                }
                Some(stored) if stored == params => report.unchanged.push(name),
                Some(_) => {
                    self.reconfigure(&name, params).await?;
                    report.changed.push(name);
                }
            }
        }
        lock(&self.config_aliases).retain(|name| {
            report.added.contains(name)
                || report.changed.contains(name)
                || report.unchanged.contains(name)
        });
        tracing::info!(?report, "config reloaded");
        Ok(report)
    }

    /// Gives a config alias new parameters: a connected alias whose connection changes
    /// gets a new pool first, then the old one drains.
    async fn reconfigure(&self, name: &str, params: ConnectParams) -> Result<()> {
        let internal = Peer::internal();
        let _op = self.lock_alias(name).await;
        let config = resolve::resolve(&secrets::fill(&params, &internal)?)?;
        let keeps_connection = self.with_alias(&internal, name, |alias| {
            Ok(alias.pool.is_none() || alias.config.same_connection(&config))
        })?;
        let pool = if keeps_connection {
            None
        } else {
            Some(
                tokio::time::timeout(config.timeout, self.open_pool(&config, true))
                    .await
                    .map_err(|_| super::connect::timeout_error(&config))??,
            )
        };
        self.store(&internal, name, params, config, pool).await?;
        Ok(())
    }
}
