//! The caller, read once per run for `check` and `block --preflight`: the token's kind and
//! claims, and what Graph says it may do (for a delegated token `/me` and the signed-in user's
//! directory roles; for an application its service principal and app role assignments) and the
//! tenant's licences. Each step's requirements are judged against it
//! ([`crate::steps::require::Caller::evaluate`]).

use crate::auth::{self, TokenKind};
use crate::error::Fatal;
use crate::graph::{
    paging, roles, service_principals, subscribed_skus, users, GraphClient, GraphError,
    GraphRequest,
};
use crate::hints::{self, Hint};
use crate::report::ErrorReport;
use crate::steps::require::{Caller, Me};

/// Who is calling, and what Graph says it may do. Nothing here stops the check but a token
/// Graph rejects: what cannot be read is said, and judged by the token's claims instead.
pub(crate) async fn read(client: &GraphClient) -> Result<Caller, Fatal> {
    let token = client
        .token()
        .await
        .map_err(|e| Fatal::auth(e.to_string(), None))?;
    let claims = auth::token_claims(&token);
    drop(token);
    let mut caller = Caller::from_claims(claims);
    match caller.kind() {
        TokenKind::Delegated => {
            caller.me = Some(
                get::<Me>(client, &users::me(), "signed-in account")
                    .await?
                    .map_err(|e| report(&e, None)),
            );
            caller.directory_roles = Some(
                match paging::collect_all::<roles::DirectoryRole>(
                    client,
                    roles::mine(),
                    "caller: directory roles",
                )
                .await
                {
                    Ok(roles) => Ok(roles.into_iter().map(roles::DirectoryRole::name).collect()),
                    Err(e) => {
                        fatal_if_unauthorized(&e)?;
                        Err(report(
                            &e,
                            hints::hint("reading the signed-in user's roles needs User.Read; lockdown judges them by the token's wids claim instead, where it has one"),
                        ))
                    }
                },
            );
        }
        TokenKind::AppOnly => {
            let read_hint = || {
                hints::hint("reading the app's own permissions needs Application.Read.All (or Directory.Read.All); lockdown judges them by the token's roles claim instead")
            };
            match caller.claims.app_id.clone() {
                None => {
                    caller.service_principal = Some(Err(ErrorReport {
                        status: None,
                        code: "noAppId".into(),
                        message: "the token names no application (appid or azp claim)".into(),
                        request_id: None,
                        hint: None,
                    }))
                }
                Some(app_id) => {
                    match get::<service_principals::ServicePrincipal>(
                        client,
                        &service_principals::get_by_app_id(&app_id),
                        "caller: service principal",
                    )
                    .await?
                    {
                        Err(e) => {
                            let e = report(&e, read_hint());
                            caller.service_principal = Some(Err(e.clone()));
                            caller.assignments = Some(Err(e));
                        }
                        Ok(sp) => {
                            caller.service_principal = Some(Ok(sp.id.clone()));
                            caller.assignments = Some(
                                assignments(client, &sp.id)
                                    .await?
                                    .map_err(|e| report(&e, read_hint())),
                            );
                        }
                    }
                }
            }
        }
        TokenKind::Unknown => {}
    }
    caller.plans = Some(
        match paging::collect_all::<subscribed_skus::SubscribedSku>(
            client,
            subscribed_skus::list(),
            "caller: licences",
        )
        .await
        {
            Ok(skus) => Ok(subscribed_skus::active_plans(&skus)),
            Err(e) => {
                fatal_if_unauthorized(&e)?;
                Err(report(
                    &e,
                    hints::hint("reading the tenant's licences (GET /subscribedSkus) needs Organization.Read.All (or Directory.Read.All)"),
                ))
            }
        },
    );
    Ok(caller)
}

/// The Microsoft Graph permissions granted to the service principal `id`.
async fn assignments(
    client: &GraphClient,
    id: &str,
) -> Result<Result<Vec<String>, GraphError>, Fatal> {
    let list = match paging::collect_all::<service_principals::AppRoleAssignment>(
        client,
        service_principals::app_role_assignments(id),
        "caller: app role assignments",
    )
    .await
    {
        Ok(list) => list,
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            return Ok(Err(e));
        }
    };
    let graph = match get::<service_principals::ServicePrincipal>(
        client,
        &service_principals::graph(),
        "caller: Microsoft Graph's permissions",
    )
    .await?
    {
        Ok(g) => g,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(service_principals::graph_permissions(&graph, &list)))
}

/// One GET decoded; a token Graph rejects ends the check (exit 3).
async fn get<T: serde::de::DeserializeOwned>(
    client: &GraphClient,
    req: &GraphRequest,
    label: &str,
) -> Result<Result<T, GraphError>, Fatal> {
    match client.get_json::<T>(req, label).await {
        Ok(v) => Ok(Ok(v)),
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            Ok(Err(e))
        }
    }
}

fn fatal_if_unauthorized(e: &GraphError) -> Result<(), Fatal> {
    if e.is_unauthorized() || e.is_token_expired() {
        return Err(Fatal::auth(
            format!("Graph rejected the token: {e}"),
            hints::common(e).map(|h| h.0),
        ));
    }
    Ok(())
}

fn report(e: &GraphError, hint: Option<Hint>) -> ErrorReport {
    let hint = if e.status() == Some(403) {
        hint
    } else {
        hints::common(e).or(hint)
    };
    ErrorReport::from_graph(e, hint)
}
