//! [`TenantAccess`]: which tenants a caller may act on.

use std::collections::BTreeSet;

use crate::domain::TenantId;

/// Which tenants a caller may act on. Built by inbound adapters from credentials; every use
/// case of [`crate::MemoryService`] takes one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TenantAccess {
    /// Every tenant (an unbound key, or no authentication configured). Also what erasure
    /// needs (an admin key).
    #[default]
    All,
    /// Only these tenants.
    Only(BTreeSet<TenantId>),
}

impl TenantAccess {
    /// Whether the caller may act on `tenant`.
    pub fn allows(&self, tenant: &TenantId) -> bool {
        match self {
            TenantAccess::All => true,
            TenantAccess::Only(set) => set.contains(tenant),
        }
    }

    /// Whether the caller is an admin (may act on every tenant, and erase).
    pub fn is_admin(&self) -> bool {
        matches!(self, TenantAccess::All)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_access() {
        let acme = TenantId::parse("acme").expect("valid");
        let globex = TenantId::parse("globex").expect("valid");
        assert!(TenantAccess::All.allows(&acme) && TenantAccess::All.is_admin());
        let only = TenantAccess::Only([globex.clone()].into());
        assert!(only.allows(&globex) && !only.allows(&acme) && !only.is_admin());
    }
}
