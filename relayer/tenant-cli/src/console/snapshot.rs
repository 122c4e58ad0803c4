//! What the console shows one viewer: the chain records of a network
//! ([`NetworkData`], read by [`super::read`]) cut down to what the viewer
//! may see ([`NetworkView`]), and the whole page's [`Snapshot`].
//!
//! Visibility:
//! - the network **owner** sees everything: members (IPs, leases, policies),
//!   providers, participants grouped by site class, invitations and the
//!   full policy matrix;
//! - a **participant** sees its own members in full, the owner's members
//!   that its members may reach or be reached by (name and addresses only),
//!   the providers hosting its members, the matrix cells involving its
//!   members, and nothing about other participants or invitations;
//! - anyone else sees only the network record.

use std::collections::BTreeSet;

use avpn_model::{MemberInfo, Verdict};
use network_registry::msg as reg;
use serde::Serialize;

use super::matrix::{Cell, CellState, NetworkPolicy, cell, rule_text};
use super::relayer::RelayerView;

/// Members of one network placed in the policy matrix (the matrix has
/// their square of cells, each a full port analysis).
pub const MAX_MATRIX_MEMBERS: usize = 48;

/// A member as read from the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Name, address, lease, tags, service and policy.
    pub info: MemberInfo,
    /// IPv6 address when the network has a `cidr6`.
    pub ip6: Option<String>,
}

/// One network's records as read from the chain (bounded by the caps of
/// [`super::read`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkData {
    /// The network record.
    pub network: reg::NetworkResponse,
    /// Its members, by name.
    pub members: Vec<Member>,
    /// Participants.
    pub participants: Vec<reg::ParticipantResponse>,
    /// Outstanding invitations.
    pub invitations: Vec<reg::InvitationResponse>,
    /// Providers authorized or hosting members.
    pub providers: Vec<reg::NetworkProviderResponse>,
    /// Whether a list was cut at its cap.
    pub truncated: bool,
    /// Records that could not be interpreted (shown, not fatal).
    pub problems: Vec<String>,
}

/// How the viewer relates to a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Owns it.
    Owner,
    /// Claimed an invitation.
    Participant,
    /// Neither.
    Outsider,
}

/// A member as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberView {
    /// Name.
    pub name: String,
    /// IPv4 address.
    pub ip: String,
    /// IPv6 address.
    pub ip6: Option<String>,
    /// Who added it: `owner`, `you` or the participant's address.
    pub added_by: String,
    /// Whether the viewer may see its details (lease, tags, policy).
    pub detailed: bool,
    /// Full lease id `owner/dseq/gseq/oseq/provider/bseq` (detailed only).
    pub lease: Option<String>,
    /// Hosting provider (detailed only).
    pub provider: Option<String>,
    /// Site classes (detailed only).
    pub tags: Vec<String>,
    /// Service name (detailed only).
    pub service: Option<String>,
    /// Ingress rules as text (detailed only).
    pub ingress: Vec<String>,
    /// Egress rules as text (detailed only).
    pub egress: Vec<String>,
}

/// A provider as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderView {
    /// Provider account.
    pub address: String,
    /// Authorized by the owner (otherwise only hosting).
    pub authorized: bool,
    /// Visible members it hosts.
    pub members: Vec<String>,
}

/// A participant as shown to the owner.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParticipantView {
    /// Account.
    pub address: String,
    /// Invitation it claimed.
    pub invitation_id: u64,
    /// Granted tags.
    pub tags: Vec<String>,
    /// Members it has / may have.
    pub members: String,
}

/// An invitation as shown to the owner.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InvitationView {
    /// Id.
    pub id: u64,
    /// Granted tags.
    pub tags: Vec<String>,
    /// `uses/max_uses`.
    pub uses: String,
    /// Expiry, unix seconds.
    pub expires: u64,
    /// Members per claimant.
    pub max_members: u32,
}

/// Members and participants carrying one site class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteView {
    /// The tag.
    pub tag: String,
    /// Visible members carrying it.
    pub members: Vec<String>,
    /// Participants granted it (owner view only).
    pub participants: Vec<String>,
}

/// A matrix cell as shown (the segments come from `/api/explain`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellView {
    /// Overall outcome.
    pub state: CellState,
    /// What is allowed.
    pub summary: String,
}

/// The policy matrix: rows are senders, columns receivers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatrixView {
    /// Member names, in row and column order.
    pub names: Vec<String>,
    /// `cells[row][col]`; `None` where the viewer may not look.
    pub cells: Vec<Vec<Option<CellView>>>,
    /// Whether members were left out ([`MAX_MATRIX_MEMBERS`]).
    pub truncated: bool,
}

/// One network as the viewer sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkView {
    /// Network id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner account.
    pub owner: String,
    /// The viewer's role.
    pub role: Role,
    /// `open` or `closed`.
    pub status: String,
    /// IPv4 CIDR.
    pub cidr: String,
    /// IPv6 CIDR.
    pub cidr6: Option<String>,
    /// `allow` or `deny`.
    pub default_action: String,
    /// Revision of the records shown.
    pub revision: u64,
    /// Members visible to the viewer.
    pub members: Vec<MemberView>,
    /// Providers visible to the viewer.
    pub providers: Vec<ProviderView>,
    /// Site classes with their members (and participants, for the owner).
    pub sites: Vec<SiteView>,
    /// Participants (owner only).
    pub participants: Option<Vec<ParticipantView>>,
    /// Invitations (owner only).
    pub invitations: Option<Vec<InvitationView>>,
    /// The policy matrix.
    pub matrix: MatrixView,
    /// Whether a list was cut at its cap.
    pub truncated: bool,
    /// Records that could not be interpreted.
    pub problems: Vec<String>,
}

/// A network named with `--network` that is not shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Missing {
    /// Network id.
    pub id: u64,
    /// Why it is not shown.
    pub reason: String,
}

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    /// The viewer's address.
    pub viewer: String,
    /// Chain id.
    pub chain_id: String,
    /// Registry contract.
    pub registry: String,
    /// Networks shown.
    pub networks: Vec<NetworkView>,
    /// Networks named but not shown.
    pub missing: Vec<Missing>,
    /// Whether owned networks were left out (cap).
    pub networks_truncated: bool,
    /// The last refresh's error (the networks are then the last good ones).
    pub error: Option<String>,
    /// The relayer's status, when asked for.
    pub relayer: Option<RelayerView>,
}

fn action(a: reg::Action) -> String {
    match a {
        reg::Action::Allow => "allow".into(),
        reg::Action::Deny => "deny".into(),
    }
}

impl NetworkData {
    /// The viewer's role in this network.
    pub fn role(&self, viewer: &str) -> Role {
        if self.network.owner.as_str() == viewer {
            Role::Owner
        } else if self
            .participants
            .iter()
            .any(|p| p.address.as_str() == viewer)
        {
            Role::Participant
        } else {
            Role::Outsider
        }
    }

    fn policy(&self) -> NetworkPolicy<'_> {
        NetworkPolicy {
            owner: self.network.owner.as_str(),
            default: match self.network.default_action {
                reg::Action::Allow => Verdict::Allow,
                reg::Action::Deny => Verdict::Deny,
            },
        }
    }

    fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.info.name == name)
    }

    /// The cell `from` → `to`, when the viewer may look at it: the owner
    /// any cell, a participant cells with one end its own and the other
    /// visible to it.
    pub fn explain(&self, viewer: &str, from: &str, to: &str) -> Option<Cell> {
        let (a, b) = (self.member(from)?, self.member(to)?);
        match self.role(viewer) {
            Role::Owner => {}
            Role::Participant => {
                let visible = self.visible_to_participant(viewer);
                let own = |m: &Member| m.info.lease.owner == viewer;
                if !(own(a) || own(b)) || !visible.contains(from) || !visible.contains(to) {
                    return None;
                }
            }
            Role::Outsider => return None,
        }
        Some(cell(self.policy(), &a.info, &b.info))
    }

    /// Names a participant sees: its own members, and the owner's members
    /// with an allowed flow to or from one of them.
    fn visible_to_participant(&self, viewer: &str) -> BTreeSet<&str> {
        let net = self.policy();
        let own: Vec<&Member> = self
            .members
            .iter()
            .filter(|m| m.info.lease.owner == viewer)
            .collect();
        let mut names: BTreeSet<&str> = own.iter().map(|m| m.info.name.as_str()).collect();
        for m in &self.members {
            if m.info.lease.owner != net.owner {
                continue;
            }
            let touches = own.iter().any(|o| {
                cell(net, &o.info, &m.info).state != CellState::Deny
                    || cell(net, &m.info, &o.info).state != CellState::Deny
            });
            if touches {
                names.insert(m.info.name.as_str());
            }
        }
        names
    }

    /// This network as `viewer` may see it.
    pub fn view(&self, viewer: &str) -> NetworkView {
        let role = self.role(viewer);
        let n = &self.network;
        let visible: BTreeSet<&str> = match role {
            Role::Owner => self.members.iter().map(|m| m.info.name.as_str()).collect(),
            Role::Participant => self.visible_to_participant(viewer),
            Role::Outsider => BTreeSet::new(),
        };
        let detailed = |m: &Member| role == Role::Owner || m.info.lease.owner == viewer;
        let members: Vec<&Member> = self
            .members
            .iter()
            .filter(|m| visible.contains(m.info.name.as_str()))
            .collect();
        let member_views = members
            .iter()
            .map(|m| self.member_view(m, viewer, detailed(m)))
            .collect();
        let providers = self
            .providers
            .iter()
            .filter_map(|p| {
                let hosted: Vec<String> = members
                    .iter()
                    .filter(|m| detailed(m) && m.info.lease.provider == p.provider.as_str())
                    .map(|m| m.info.name.clone())
                    .collect();
                (role == Role::Owner || !hosted.is_empty()).then(|| ProviderView {
                    address: p.provider.to_string(),
                    authorized: p.authorized,
                    members: hosted,
                })
            })
            .collect();
        let owner_view = role == Role::Owner;
        let site_tags: Vec<String> = match role {
            Role::Owner => n.tags.clone(),
            Role::Participant => self
                .participants
                .iter()
                .filter(|p| p.address.as_str() == viewer)
                .flat_map(|p| p.tags.clone())
                .collect(),
            Role::Outsider => Vec::new(),
        };
        let sites = site_tags
            .into_iter()
            .map(|tag| SiteView {
                members: members
                    .iter()
                    .filter(|m| detailed(m) && m.info.tags.contains(&tag))
                    .map(|m| m.info.name.clone())
                    .collect(),
                participants: if owner_view {
                    self.participants
                        .iter()
                        .filter(|p| p.tags.contains(&tag))
                        .map(|p| p.address.to_string())
                        .collect()
                } else {
                    Vec::new()
                },
                tag,
            })
            .collect();
        NetworkView {
            id: n.id,
            name: n.name.clone(),
            owner: n.owner.to_string(),
            role,
            status: match n.status {
                reg::NetworkStatus::Open => "open".into(),
                reg::NetworkStatus::Closed => "closed".into(),
            },
            cidr: n.cidr.clone(),
            cidr6: n.cidr6.clone(),
            default_action: action(n.default_action),
            revision: n.revision,
            members: member_views,
            providers,
            sites,
            participants: owner_view.then(|| self.participant_views()),
            invitations: owner_view.then(|| self.invitation_views()),
            matrix: self.matrix(&members, |m| {
                role == Role::Owner || m.info.lease.owner == viewer
            }),
            truncated: self.truncated,
            problems: if owner_view {
                self.problems.clone()
            } else {
                Vec::new()
            },
        }
    }

    fn member_view(&self, m: &Member, viewer: &str, detailed: bool) -> MemberView {
        let i = &m.info;
        let added_by = if i.lease.owner == self.network.owner.as_str() {
            "owner".to_string()
        } else if i.lease.owner == viewer {
            "you".to_string()
        } else {
            i.lease.owner.clone()
        };
        let rules = |list: &[avpn_model::Rule], ingress: bool| {
            if detailed {
                list.iter().map(|r| rule_text(r, ingress)).collect()
            } else {
                Vec::new()
            }
        };
        MemberView {
            name: i.name.clone(),
            ip: i.ip.to_string(),
            ip6: m.ip6.clone(),
            added_by,
            detailed,
            lease: detailed.then(|| i.lease.to_string()),
            provider: detailed.then(|| i.lease.provider.clone()),
            tags: if detailed {
                i.tags.iter().cloned().collect()
            } else {
                Vec::new()
            },
            service: i.service.clone().filter(|_| detailed),
            ingress: rules(&i.policy.ingress, true),
            egress: rules(&i.policy.egress, false),
        }
    }

    fn participant_views(&self) -> Vec<ParticipantView> {
        self.participants
            .iter()
            .map(|p| ParticipantView {
                address: p.address.to_string(),
                invitation_id: p.invitation_id,
                tags: p.tags.clone(),
                members: format!("{}/{}", p.member_count, p.max_members),
            })
            .collect()
    }

    fn invitation_views(&self) -> Vec<InvitationView> {
        self.invitations
            .iter()
            .map(|i| InvitationView {
                id: i.id,
                tags: i.tags.clone(),
                uses: format!("{}/{}", i.uses, i.max_uses),
                expires: i.expires.seconds(),
                max_members: i.max_members,
            })
            .collect()
    }

    /// The matrix over `members` (own members first when cut); a cell is
    /// filled when `may_look` holds for one of its ends.
    fn matrix(&self, members: &[&Member], may_look: impl Fn(&Member) -> bool) -> MatrixView {
        let mut rows: Vec<&Member> = members.iter().copied().filter(|m| may_look(m)).collect();
        rows.extend(members.iter().copied().filter(|m| !may_look(m)));
        let truncated = rows.len() > MAX_MATRIX_MEMBERS;
        rows.truncate(MAX_MATRIX_MEMBERS);
        rows.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        let net = self.policy();
        let cells = rows
            .iter()
            .map(|from| {
                rows.iter()
                    .map(|to| {
                        (may_look(from) || may_look(to)).then(|| {
                            let c = cell(net, &from.info, &to.info);
                            CellView {
                                state: c.state,
                                summary: c.summary,
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        MatrixView {
            names: rows.iter().map(|m| m.info.name.clone()).collect(),
            cells,
            truncated,
        }
    }
}

#[cfg(test)]
mod tests;
