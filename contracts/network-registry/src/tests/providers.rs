//! authorize_provider, revoke_provider, the providers query and the
//! provider_view index.

use super::*;
use crate::assert_err;
use crate::msg::{NetworkProviderResponse, NetworkProvidersResponse};

fn authorize(id: u64, p: &Addr) -> ExecuteMsg {
    ExecuteMsg::AuthorizeProvider {
        network_id: id,
        provider: p.to_string(),
    }
}

fn revoke(id: u64, p: &Addr) -> ExecuteMsg {
    ExecuteMsg::RevokeProvider {
        network_id: id,
        provider: p.to_string(),
    }
}

fn providers(s: &Setup, id: u64) -> Vec<NetworkProviderResponse> {
    let r: NetworkProvidersResponse = s
        .q(QueryMsg::Providers {
            network_id: id,
            start_after: None,
            limit: None,
        })
        .unwrap();
    r.providers
}

#[test]
fn authorize_and_revoke_maintain_view() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1, p2) = (s.owner.clone(), s.p1.clone(), s.p2.clone());
    let res = s.ok(&owner, authorize(id, &p1));
    let ev = event(&res);
    assert_eq!(ev.ty, "authorize_provider");
    assert_eq!(attr(ev, "providers"), p1.as_str());
    assert_eq!(attr(ev, "revision"), "2");
    assert_eq!(s.view(&p1), vec![id]);
    let r: ProviderViewResponse = s
        .q(QueryMsg::ProviderView {
            provider: p1.to_string(),
            start_after: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(r.networks[0].revision, 2);
    assert_eq!(
        providers(&s, id),
        vec![NetworkProviderResponse {
            provider: p1.clone(),
            authorized: true,
            hosted_members: 0
        }]
    );
    // Hosting keeps a revoked provider in the view until its members leave.
    s.add(id, "a", &p1);
    let res = s.ok(&owner, revoke(id, &p1));
    assert_eq!(event(&res).ty, "revoke_provider");
    assert_eq!(
        providers(&s, id),
        vec![NetworkProviderResponse {
            provider: p1.clone(),
            authorized: false,
            hosted_members: 1
        }]
    );
    assert_eq!(s.view(&p1), vec![id]);
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
    );
    assert!(s.view(&p1).is_empty());
    assert!(providers(&s, id).is_empty());
    // Revoking a plain authorization removes the view entry at once.
    s.ok(&owner, authorize(id, &p2));
    s.ok(&owner, revoke(id, &p2));
    assert!(s.view(&p2).is_empty());
}

#[test]
fn authorize_rejections() {
    let mut s = setup_with(Some(Params {
        max_list_len: 2,
        ..Params::default()
    }));
    let id = s.net();
    let (owner, p1, p2, p3) = (s.owner.clone(), s.p1.clone(), s.p2.clone(), s.p3.clone());
    s.ok(&owner, authorize(id, &p1));
    assert_err!(
        s.reject(&owner, authorize(id, &p1)),
        ContractError::AlreadyAuthorized(_)
    );
    assert_err!(
        s.reject(&owner, revoke(id, &p2)),
        ContractError::NotAuthorized(_)
    );
    s.ok(&owner, authorize(id, &p2));
    assert_err!(
        s.reject(&owner, authorize(id, &p3)),
        ContractError::TooMany { max: 2, .. }
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::AuthorizeProvider {
                network_id: id,
                provider: "akash1invalid".into()
            }
        ),
        ContractError::InvalidAddress(_)
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::AuthorizeProvider {
                network_id: id,
                provider: p1.to_string().to_uppercase()
            }
        ),
        _
    );
}

#[test]
fn view_lists_networks_across_owners_and_follows_participant_removal() {
    let mut s = setup();
    let (owner, bob, p1, p2) = (s.owner.clone(), s.bob.clone(), s.p1.clone(), s.p2.clone());
    let a = s.net();
    let b = s.create(&bob, create_msg("bobnet", "100.64.0.0/24"));
    s.add(a, "x", &p1);
    s.ok(&bob, add_msg_by(&bob, b, "y", 3, &p1, &[]));
    assert_eq!(s.view(&p1), vec![a, b]);
    let page: ProviderViewResponse = s
        .q(QueryMsg::ProviderView {
            provider: p1.to_string(),
            start_after: Some(a),
            limit: Some(1),
        })
        .unwrap();
    assert_eq!(page.networks.len(), 1);
    assert_eq!(page.networks[0].network_id, b);
    // Bob joins network a and puts a member on p2 (authorized, then
    // revoked: his member stays); removing him drops p2.
    s.join(a, &bob, &["web"]);
    s.authorize(a, &p2);
    s.ok(&bob, add_msg_by(&bob, a, "bob-1", 4, &p2, &["web"]));
    s.ok(&owner, revoke(a, &p2));
    assert_eq!(s.view(&p2), vec![a]);
    let res = s.ok(
        &owner,
        ExecuteMsg::RemoveParticipant {
            network_id: a,
            participant: bob.to_string(),
        },
    );
    assert_eq!(attr(event(&res), "providers"), p2.as_str());
    assert!(s.view(&p2).is_empty());
    assert_eq!(s.view(&p1), vec![a, b]);
}
