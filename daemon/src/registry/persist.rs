//! Keeping the state file in step with the registry, and restoring from it at start.

use milvus_connd_protocol::ConnectParams;

use super::{Registry, lock};
use crate::peer::Peer;
use crate::state_file::{self, PersistedAlias};

impl Registry {
    /// Writes every alias (owner and parameters) to the state file. A failure is logged:
    /// the change already took effect, only its survival across a restart is at stake.
    pub(super) async fn persist(&self) {
        let Some(path) = self.state_file.clone() else {
            return;
        };
        let _writing = self.persisting.lock().await;
        let from_config = lock(&self.config_aliases).clone();
        let aliases: Vec<PersistedAlias> = lock(&self.aliases)
            .iter()
            .filter(|(name, _)| !from_config.contains(*name))
            .map(|(name, alias)| PersistedAlias {
                alias: name.clone(),
                owner_uid: alias.owner_uid(),
                params: alias.params.clone(),
            })
            .collect();
        let written = tokio::task::spawn_blocking(move || state_file::save(&path, aliases)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::error!(error = %err, cause = ?std::error::Error::source(&err).map(|e| e.to_string()), "cannot persist aliases")
            }
            Err(err) => tracing::error!(error = %err, "persisting task failed"),
        }
    }

    /// Adds the config file's aliases, as root's (checked when the file was loaded).
    pub async fn load_config(&self, aliases: std::collections::BTreeMap<String, ConnectParams>) {
        for (alias, params) in aliases {
            lock(&self.config_aliases).insert(alias.clone());
            match self.add(&Peer::internal(), &alias, params).await {
                Ok(_) => tracing::info!(alias, "alias from the config file"),
                Err(err) => {
                    tracing::error!(alias, error = %err, "cannot add the config file's alias")
                }
            }
        }
    }

    /// Adds the aliases of the state file back, as their owners, without connecting them.
    pub async fn restore(&self) {
        let Some(path) = &self.state_file else { return };
        let saved = match state_file::load(path) {
            Ok(saved) => saved,
            Err(err) => {
                tracing::error!(error = %err, "cannot restore aliases; starting without them");
                return;
            }
        };
        let daemon_uid = nix::unistd::geteuid().as_raw();
        let from_config = lock(&self.config_aliases).clone();
        for PersistedAlias {
            alias,
            owner_uid,
            params,
        } in saved
        {
            if from_config.contains(&alias) {
                tracing::warn!(
                    alias,
                    "the config file defines this alias; the saved one is ignored"
                );
                continue;
            }
            let owner = Peer::new(owner_uid, 0, None, daemon_uid);
            match self.add(&owner, &alias, params).await {
                Ok(_) => tracing::info!(alias, owner_uid, "alias restored"),
                Err(err) => tracing::warn!(alias, error = %err, "cannot restore alias"),
            }
        }
    }
}
