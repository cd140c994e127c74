//! Keeping the state file in step with the registry, and restoring from it at start.

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
        let aliases: Vec<PersistedAlias> = lock(&self.aliases)
            .iter()
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
        for PersistedAlias {
            alias,
            owner_uid,
            params,
        } in saved
        {
            let owner = Peer::new(owner_uid, 0, None, daemon_uid);
            match self.add(&owner, &alias, params).await {
                Ok(_) => tracing::info!(alias, owner_uid, "alias restored"),
                Err(err) => tracing::warn!(alias, error = %err, "cannot restore alias"),
            }
        }
    }
}
