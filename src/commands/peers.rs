//! The SSH sessions of one command: one per peer, opened when a set first
//! needs it and closed at the end.

use std::collections::HashMap;

use crate::config::{Node, SyncSet};
use crate::i18n::Lang;
use crate::sync::remote::Wire;
use crate::transport::peer::{self, PeerLink};

#[derive(Default)]
pub struct Peers {
    /// Open links, or the message of a peer that could not be reached, so
    /// the other sets of the run do not wait for it again.
    links: HashMap<String, Result<PeerLink, String>>,
}

impl Peers {
    /// Returns the link to `node`, opened on first use.
    pub fn link(&mut self, node: &Node, lang: Lang) -> Result<&mut PeerLink, String> {
        let slot = self.links.entry(node.name.clone()).or_insert_with(|| {
            tracing::info!(node = %node.name, "connecting to the peer");
            peer::open(node, lang).map_err(|e| e.message(lang))
        });
        slot.as_mut().map_err(|message| message.clone())
    }

    /// Drops the link to `node` after it broke, without waiting for the
    /// peer, so a later set reconnects.
    pub fn forget(&mut self, node: &Node) {
        if let Some(Ok(link)) = self.links.remove(&node.name) {
            link.abandon();
        }
    }

    /// Forgets the peers that could not be reached, so the next set that
    /// needs one tries again. A long-lived watcher calls it after a failed
    /// batch; a single run keeps the failure so its other sets do not wait.
    pub fn forget_failures(&mut self) {
        self.links.retain(|_, link| link.is_ok());
    }

    pub fn close(self) {
        for link in self.links.into_values().flatten() {
            link.close();
        }
    }
}

/// Builds the transfer settings of a set's sync to its peer.
pub fn wire(set: &SyncSet, link: &PeerLink, lang: Lang) -> Wire {
    Wire {
        peer: link.endpoint.clone(),
        compress: set.compress,
        bwlimit: set.bwlimit,
        lang,
    }
}
