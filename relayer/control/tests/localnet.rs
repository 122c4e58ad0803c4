//! Against the localnet (skips with a message when it is not up): a tenant
//! builds a network with members on two providers; provider-1's relayer
//! (controller + watcher + recording data plane) finds it through its
//! attachment file's lease, follows within a block, attaches only its own
//! lease, catches up after its WebSocket was cut while the policy changed,
//! and drops the network when it is closed. A network that only names a
//! provider is not served unless the provider consented.

mod common;

use std::time::Duration;

use avpn_control::tx::TxError;
use avpn_model::Change;
use network_registry::msg as reg;

use common::*;

/// Lease `owner/dseq/1/1/provider/0` (the owner must be the tx sender).
fn lease(owner: &str, dseq: u64, provider: &str) -> reg::LeaseId {
    reg::LeaseId {
        owner: owner.to_owned(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.to_owned(),
        bseq: 0,
    }
}

/// A dseq unique to this run.
fn fresh_dseq() -> u64 {
    unique().parse::<u64>().unwrap() % 1_000_000_000 + 1
}

/// Waits until the relayer's first full read is applied.
async fn wait_ready(relayer: &mut Relayer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !relayer.applied.borrow().ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "relayer never synced"
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), relayer.applied.changed()).await;
    }
}

fn create(name: String) -> reg::ExecuteMsg {
    reg::ExecuteMsg::CreateNetwork {
        name,
        cidr: "100.64.0.0/24".into(),
        cidr6: None,
        default_action: None,
        tags: vec!["web".into()],
        start_time: None,
        end_time: None,
    }
}

fn network_id(out: &avpn_control::tx::TxOutcome) -> u64 {
    out.attribute("wasm-create_network", "network_id")[0]
        .parse()
        .unwrap()
}

fn revision(out: &avpn_control::tx::TxOutcome) -> u64 {
    out.events
        .iter()
        .filter(|e| e.kind.starts_with("wasm-"))
        .flat_map(|e| e.attributes.iter())
        .filter(|a| a.key_bytes() == b"revision")
        .filter_map(|a| a.value_str().ok()?.parse().ok())
        .max()
        .expect("revision attribute")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayer_follows_the_chain_and_catches_up_after_a_cut() {
    let Some(env) = localnet() else { return };
    let mut providers = fresh_accounts(&env, 2).await;
    register(&env, &mut providers[0], "198.18.0.1:7000").await;
    register(&env, &mut providers[1], "198.18.0.2:7000").await;
    let p1 = providers[0].address().to_string();
    let p2 = providers[1].address().to_string();

    // provider-1 runs the tenant's lease dseq (unique per run): its
    // attachment file names the full lease id (owner and bseq included)
    let dseq = fresh_dseq();
    let owner = env["TENANT"].clone();
    let tmp = TempDir::new("avpn-att");
    let att_dir = tmp.0.clone();
    write_attachment(
        &att_dir,
        "web.toml",
        &owner,
        dseq,
        0,
        "/run/netns/lease-web",
    );

    let proxy = Proxy::start(&env["RPC"]).await;
    let mut relayer = start_relayer(
        &env,
        &p1,
        &proxy.url,
        Duration::from_secs(3600),
        Opts {
            attachments_dir: Some(att_dir.clone()),
            data_dir: Some(att_dir.clone()),
            ..Opts::default()
        },
    );
    wait_ready(&mut relayer).await;

    let mut tenant = account(&env, "tenant").await;
    assert_eq!(tenant.address().to_string(), owner);
    let registry = env["REGISTRY"].clone();
    let created = tenant
        .execute(&registry, &[create(format!("ctl-{}", unique()))])
        .await
        .unwrap();
    let id = network_id(&created);
    let added = tenant
        .execute(
            &registry,
            &[
                reg::ExecuteMsg::AddMember {
                    network_id: id,
                    name: "web".into(),
                    lease: lease(&owner, dseq, &p1),
                    tags: vec!["web".into()],
                    service: None,
                    ip: None,
                    weight: None,
                },
                reg::ExecuteMsg::AddMember {
                    network_id: id,
                    name: "db".into(),
                    lease: lease(&owner, dseq + 1, &p2),
                    tags: vec![],
                    service: None,
                    ip: None,
                    weight: None,
                },
            ],
        )
        .await
        .unwrap();
    let rev = revision(&added);
    let applied = relayer
        .wait_for(id, Some(rev), Duration::from_secs(20))
        .await;
    assert!(
        applied.height <= added.height + 1,
        "seen at height {} for a tx in block {}: more than one block late",
        applied.height,
        added.height
    );
    {
        let log = &relayer.dataplane.lock().await.0;
        let set_member = |n: &str| {
            log.iter()
                .any(|c| matches!(c, Change::SetMember(net, m) if *net == id && m.name == n))
        };
        assert!(set_member("web") && set_member("db"), "{log:#?}");
        assert!(
            log.iter()
                .any(|c| matches!(c, Change::Attach(net, m, _) if *net == id && m == "web"))
        );
        assert!(
            !log.iter()
                .any(|c| matches!(c, Change::Attach(net, m, _) if *net == id && m == "db")),
            "a member on another provider's lease must not be attached here"
        );
        assert!(
            log.iter()
                .any(|c| matches!(c, Change::SetPeer(p) if p.provider == p2))
        );
    }
    assert_eq!(relayer.status.lock().unwrap().lease_verification, "off");

    // cut the WebSocket, change the policy while disconnected, restore
    proxy.cut();
    let resyncs_before = relayer
        .metrics
        .resyncs
        .get_or_create(&avpn_control::metrics::ResyncLabel {
            reason: "reconnect".into(),
        })
        .get();
    let policy = reg::Policy {
        ingress: vec![reg::Rule {
            peers: reg::Peers::Members(vec!["db".into()]),
            protocol: reg::Protocol::Tcp,
            ports: Some(reg::PortRange {
                start: 6379,
                end: 6379,
            }),
            action: reg::Action::Allow,
        }],
        egress: vec![],
    };
    let changed = tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::SetPolicy {
                network_id: id,
                name: "web".into(),
                policy,
            }],
        )
        .await
        .unwrap();
    let rev2 = revision(&changed);
    // while cut, nothing can be applied (no periodic resync within the test)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        relayer
            .applied
            .borrow()
            .revisions
            .get(&id)
            .is_some_and(|r| *r < rev2),
        "applied while cut?"
    );
    proxy.restore();
    relayer
        .wait_for(id, Some(rev2), Duration::from_secs(30))
        .await;
    let resyncs_after = relayer
        .metrics
        .resyncs
        .get_or_create(&avpn_control::metrics::ResyncLabel {
            reason: "reconnect".into(),
        })
        .get();
    assert!(
        resyncs_after > resyncs_before,
        "the change must come from the reconnect resync"
    );
    assert!(relayer.metrics.reconnects.get() >= 1);
    {
        let log = &relayer.dataplane.lock().await.0;
        let last_web = log
            .iter()
            .rev()
            .find_map(|c| match c {
                Change::SetMember(net, m) if *net == id && m.name == "web" => Some(m.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            last_web.policy.ingress.len(),
            1,
            "new policy applied after reconnect"
        );
    }
    let ckpt = avpn_control::checkpoint::Checkpoint::load(&att_dir)
        .unwrap()
        .expect("checkpoint written");
    assert_eq!(ckpt.revisions.get(&id), Some(&rev2));
    assert_eq!(ckpt.chain_id, env["CHAIN_ID"]);

    // the peer rotates its key: the relayer accepts the new key and keeps the old one until the deadline
    // Overlay keys are unique across providers and the localnet persists
    // between runs, so each run rotates to a key of its own.
    let (new_key, signature) = new_overlay_key(&env, &providers[1]);
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    providers[1]
        .execute(
            &env["DIRECTORY"],
            &[provider_directory::msg::ExecuteMsg::RotateKey {
                new_key: cosmwasm_std::Binary::from(new_key.to_vec()),
                signature,
                overlap_until: cosmwasm_std::Timestamp::from_seconds(until),
            }],
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rotated = relayer.dataplane.lock().await.0.iter().any(|c| {
            matches!(c, Change::SetPeer(p) if p.provider == p2
                && p.keys.len() == 2
                && p.keys[0].key == new_key
                && p.keys[1].valid_until == Some(until))
        });
        if rotated {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "key rotation of the peer not applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // an intruder cannot change the network; nothing is applied
    let mut intruder = account(&env, "tenant-b").await;
    let err = intruder
        .execute(
            &registry,
            &[reg::ExecuteMsg::RemoveMember {
                network_id: id,
                name: "web".into(),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TxError::Rejected { .. }), "{err}");

    // close: the network goes away on the relayer
    tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::CloseNetwork { network_id: id }],
        )
        .await
        .unwrap();
    relayer.wait_for(id, None, Duration::from_secs(20)).await;
    assert!(
        relayer
            .dataplane
            .lock()
            .await
            .0
            .contains(&Change::RemoveNetwork(id))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_errors_are_clear() {
    let Some(env) = localnet() else { return };
    // unknown contract
    let mut tenant = account(&env, "tenant").await;
    let bogus = env["TENANT_B"].clone();
    let err = tenant
        .execute(&bogus, &[serde_json::json!({"x": {}})])
        .await
        .unwrap_err();
    assert!(matches!(err, TxError::UnknownContract(_)), "{err}");
    // wrong chain id is refused before anything is signed
    let q = avpn_control::query::Querier::new(
        avpn_control::rpc::Endpoint::new(&env["RPC"], "akashnet-2", Duration::from_secs(5))
            .unwrap(),
    )
    .unwrap();
    let signer = avpn_control::tx::Signer::from_file(&mnemonic_path("tenant"), "akash").unwrap();
    let err = avpn_control::tx::TxClient::new(q, signer, Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("akashnet-2"), "{err}");
    // an account that was never funded
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let signer = avpn_control::tx::Signer::from_mnemonic(phrase, "akash").unwrap();
    let q = avpn_control::query::Querier::new(endpoint(&env)).unwrap();
    let mut empty = avpn_control::tx::TxClient::new(q, signer, Default::default())
        .await
        .unwrap();
    let err = empty
        .execute(
            &env["DIRECTORY"],
            &[provider_directory::msg::ExecuteMsg::Deregister {}],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TxError::UnknownAccount(_) | TxError::InsufficientFunds(_)
        ),
        "{err}"
    );
    // a stale sequence is recovered: two clients of one account interleave
    let mut a = account(&env, "tenant-b").await;
    let mut b = account(&env, "tenant-b").await;
    let msg = reg::ExecuteMsg::CreateNetwork {
        name: format!("seq-{}", unique()),
        cidr: "100.64.1.0/24".into(),
        cidr6: None,
        default_action: None,
        tags: vec![],
        start_time: None,
        end_time: None,
    };
    let first = a.execute(&env["REGISTRY"], &[msg]).await.unwrap();
    let id: u64 = first.attribute("wasm-create_network", "network_id")[0]
        .parse()
        .unwrap();
    // b read the account lazily: prime it, then let a advance the sequence
    b.execute(
        &env["REGISTRY"],
        &[reg::ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: Some(reg::Action::Allow),
            tags: None,
            start_time: None,
            end_time: None,
        }],
    )
    .await
    .unwrap();
    a.execute(
        &env["REGISTRY"],
        &[reg::ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: Some(reg::Action::Deny),
            tags: None,
            start_time: None,
            end_time: None,
        }],
    )
    .await
    .unwrap();
    b.execute(
        &env["REGISTRY"],
        &[reg::ExecuteMsg::CloseNetwork { network_id: id }],
    )
    .await
    .expect("sequence mismatch recovered");
}

/// Messages executed by governance run in the block's finalize phase; their
/// events only appear in `finalize_block_events` of NewBlock. The watcher
/// must see them: here a no-op `update_params` proposal on the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_executed_messages_are_seen() {
    use cosmrs::Any;
    use cosmrs::proto::cosmos::gov::v1::{MsgSubmitProposal, MsgVote};
    use cosmrs::proto::cosmwasm::wasm::v1::MsgExecuteContract;
    use prost::Message;

    let Some(env) = localnet() else { return };
    let registry = env["REGISTRY"].clone();
    let gov = env["GOV"].clone();
    let q = avpn_control::query::Querier::new(endpoint(&env)).unwrap();
    let admin: reg::AdminResponse = q
        .smart(&registry, &reg::QueryMsg::Admin {}, None)
        .await
        .unwrap();
    if admin.admin.as_str() != gov {
        eprintln!("SKIP: registry admin is {} not the gov module", admin.admin);
        return;
    }
    let params: reg::Params = q
        .smart(&registry, &reg::QueryMsg::Params {}, None)
        .await
        .unwrap();
    let mut provider = fresh_accounts(&env, 1).await.remove(0);
    let p = provider.address().to_string();
    register(&env, &mut provider, "198.18.0.9:7000").await;
    let mut relayer = start_relayer(
        &env,
        &p,
        &env["RPC"].clone(),
        Duration::from_secs(3600),
        Opts::default(),
    );
    wait_ready(&mut relayer).await;
    let label = avpn_control::metrics::ResyncLabel {
        reason: "contract".into(),
    };
    let before = relayer.metrics.resyncs.get_or_create(&label).get();

    let exec = MsgExecuteContract {
        sender: gov.clone(),
        contract: registry.clone(),
        msg: serde_json::to_vec(&reg::ExecuteMsg::UpdateParams { params }).unwrap(),
        funds: vec![],
    };
    let mut validator = account(&env, "validator").await;
    let submit = MsgSubmitProposal {
        messages: vec![Any {
            type_url: "/cosmwasm.wasm.v1.MsgExecuteContract".into(),
            value: exec.encode_to_vec(),
        }],
        initial_deposit: vec![cosmrs::proto::cosmos::base::v1beta1::Coin {
            denom: "uakt".into(),
            amount: "5000000".into(),
        }],
        proposer: validator.address().to_string(),
        metadata: String::new(),
        title: "avpn control test: no-op params".into(),
        summary: "re-sets the registry params to their current values".into(),
        expedited: true,
    };
    let out = validator
        .send(vec![Any {
            type_url: "/cosmos.gov.v1.MsgSubmitProposal".into(),
            value: submit.encode_to_vec(),
        }])
        .await
        .unwrap();
    let id: u64 = out.attribute("submit_proposal", "proposal_id")[0]
        .parse()
        .unwrap();
    let vote = MsgVote {
        proposal_id: id,
        voter: validator.address().to_string(),
        option: 1,
        metadata: String::new(),
    };
    validator
        .send(vec![Any {
            type_url: "/cosmos.gov.v1.MsgVote".into(),
            value: vote.encode_to_vec(),
        }])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while relayer.metrics.resyncs.get_or_create(&label).get() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the governance-executed registry message was not seen (proposal {id})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A time-boxed network ends without any transaction: the relayer must
/// drop it on its own once the chain's time passes the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_boxed_network_is_dropped_when_it_ends() {
    let Some(env) = localnet() else { return };
    let mut provider = fresh_accounts(&env, 1).await.remove(0);
    register(&env, &mut provider, "198.18.0.8:7000").await;
    let p = provider.address().to_string();
    let owner = env["TENANT"].clone();
    let dseq = fresh_dseq();
    let tmp = TempDir::new("avpn-att-boxed");
    write_attachment(&tmp.0, "w.toml", &owner, dseq, 0, "/run/netns/lease-w");
    let mut relayer = start_relayer(
        &env,
        &p,
        &env["RPC"].clone(),
        Duration::from_secs(3600),
        Opts::attachments(&tmp.0),
    );
    let mut tenant = account(&env, "tenant").await;
    let registry = env["REGISTRY"].clone();
    let created = tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::CreateNetwork {
                name: format!("boxed-{}", unique()),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: vec![],
                start_time: None,
                end_time: None,
            }],
        )
        .await
        .unwrap();
    let id = network_id(&created);
    let added = tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::AddMember {
                network_id: id,
                name: "w".into(),
                lease: lease(&owner, dseq, &p),
                tags: vec![],
                service: None,
                ip: None,
                weight: None,
            }],
        )
        .await
        .unwrap();
    relayer
        .wait_for(id, Some(revision(&added)), Duration::from_secs(20))
        .await;
    // the end is set once the network is served, so slow txs on a loaded
    // machine cannot make it end before the relayer saw it
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 8;
    let boxed = tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::UpdateNetwork {
                network_id: id,
                default_action: None,
                tags: None,
                start_time: None,
                end_time: Some(cosmwasm_std::Timestamp::from_seconds(end)),
            }],
        )
        .await
        .unwrap();
    relayer
        .wait_for(id, Some(revision(&boxed)), Duration::from_secs(8))
        .await;
    let resyncs = relayer
        .metrics
        .resyncs
        .get_or_create(&avpn_control::metrics::ResyncLabel {
            reason: "periodic".into(),
        })
        .get();
    relayer.wait_for(id, None, Duration::from_secs(30)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now >= end, "dropped before its end");
    assert!(now <= end + 5, "dropped {}s after its end", now - end);
    assert_eq!(
        relayer
            .metrics
            .resyncs
            .get_or_create(&avpn_control::metrics::ResyncLabel {
                reason: "periodic".into()
            })
            .get(),
        resyncs,
        "must not depend on the periodic resync"
    );
    tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::CloseNetwork { network_id: id }],
        )
        .await
        .unwrap();
}

/// Naming a provider on chain (authorizing it, or binding a member to a
/// lease id on it that it does not run) never makes its relayer serve the
/// network; the operator's consent (`--serve-network`) does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_only_names_the_provider_is_served_only_with_consent() {
    let Some(env) = localnet() else { return };
    let mut provider = fresh_accounts(&env, 1).await.remove(0);
    register(&env, &mut provider, "198.18.0.7:7000").await;
    let p = provider.address().to_string();
    let owner = env["TENANT"].clone();
    let (dseq_named, dseq_run) = (fresh_dseq(), fresh_dseq() + 1);
    let tmp = TempDir::new("avpn-att-named");
    write_attachment(
        &tmp.0,
        "run.toml",
        &owner,
        dseq_run,
        0,
        "/run/netns/lease-run",
    );
    let mut relayer = start_relayer(
        &env,
        &p,
        &env["RPC"].clone(),
        Duration::from_secs(3600),
        Opts::attachments(&tmp.0),
    );
    wait_ready(&mut relayer).await;

    let mut tenant = account(&env, "tenant").await;
    let registry = env["REGISTRY"].clone();
    // network `named`: authorizes the provider and binds a member to a lease
    // id on it that the provider does not run (no attachment file)
    let named = network_id(
        &tenant
            .execute(&registry, &[create(format!("named-{}", unique()))])
            .await
            .unwrap(),
    );
    tenant
        .execute(
            &registry,
            &[
                reg::ExecuteMsg::AuthorizeProvider {
                    network_id: named,
                    provider: p.clone(),
                },
                reg::ExecuteMsg::AddMember {
                    network_id: named,
                    name: "ghost".into(),
                    lease: lease(&owner, dseq_named, &p),
                    tags: vec!["web".into()],
                    service: None,
                    ip: None,
                    weight: None,
                },
            ],
        )
        .await
        .unwrap();
    // network `served`: binds the lease the provider runs; created after, so
    // once it is applied every event about `named` has been handled
    let served = network_id(
        &tenant
            .execute(&registry, &[create(format!("served-{}", unique()))])
            .await
            .unwrap(),
    );
    let added = tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::AddMember {
                network_id: served,
                name: "run".into(),
                lease: lease(&owner, dseq_run, &p),
                tags: vec!["web".into()],
                service: None,
                ip: None,
                weight: None,
            }],
        )
        .await
        .unwrap();
    let applied = relayer
        .wait_for(served, Some(revision(&added)), Duration::from_secs(20))
        .await;
    assert!(
        !applied.revisions.contains_key(&named),
        "a network that only names the provider was served: {:?}",
        applied.revisions
    );
    {
        let log = &relayer.dataplane.lock().await.0;
        assert!(
            !log.iter().any(|c| match c {
                Change::SetNetwork(i) => i.id == named,
                Change::RemoveNetwork(id)
                | Change::SetMember(id, _)
                | Change::RemoveMember(id, _)
                | Change::Attach(id, _, _)
                | Change::Detach(id, _) => *id == named,
                _ => false,
            }),
            "{log:#?}"
        );
        assert!(
            log.iter()
                .any(|c| matches!(c, Change::Attach(net, m, _) if *net == served && m == "run"))
        );
    }
    assert!(!relayer.status.lock().unwrap().networks.contains_key(&named));

    // with consent for `named` a second relayer serves it (its member stays
    // unattached: the provider runs no such lease)
    let mut consenting = start_relayer(
        &env,
        &p,
        &env["RPC"].clone(),
        Duration::from_secs(3600),
        Opts::serve_network(named),
    );
    consenting
        .wait_for(named, Some(1), Duration::from_secs(20))
        .await;
    {
        let st = consenting.status.lock().unwrap();
        let row = &st.networks[&named];
        assert_eq!(row.members.len(), 1);
        assert_eq!(row.members[0].state, "local");
        assert_eq!(
            row.members[0].lease,
            format!("{owner}/{dseq_named}/1/1/{p}/0")
        );
        assert!(st.unattached.contains(&format!("{named}/ghost")));
        assert!(
            !st.networks.contains_key(&served),
            "not consented, lease not attached here"
        );
    }
    tenant
        .execute(
            &registry,
            &[
                reg::ExecuteMsg::CloseNetwork { network_id: named },
                reg::ExecuteMsg::CloseNetwork { network_id: served },
            ],
        )
        .await
        .unwrap();
}
