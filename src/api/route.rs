//! `routes!`: utoipa-axum's macro of the same name, plus what the handler's signature says of
//! the key. A handler that takes `Auth<ReadPatients>` needs an API key with `READ_PATIENTS`,
//! and that is the one place it is written: the operation's `security` (and with it the `401`
//! and `429` responses and the rate-limit headers), its `x-permission`, its `403` response and
//! the permission line of its description (`api::openapi`) are derived from it.

use axum::extract::{Query as AxumQuery, State};
use axum::http::HeaderMap;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;

use crate::api::common::NoBody;
use crate::auth::permissions::RequiredPermission;
use crate::auth::Permission;
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::tx::Tx;

/// What a handler's argument demands of the key: only `Auth<P>` demands anything.
pub trait Demands {
    /// An API key, of any permissions.
    const KEY: bool = false;
    const PERMISSION: Option<Permission> = None;
}

impl<P: RequiredPermission> Demands for Auth<P> {
    const KEY: bool = true;
    const PERMISSION: Option<Permission> = P::PERMISSION;
}
impl<S> Demands for State<S> {}
impl<T> Demands for Query<T> {}
impl<T> Demands for AxumQuery<T> {}
impl<T> Demands for Path<T> {}
impl<T> Demands for Json<T> {}
impl<T> Demands for Option<T> {}
impl Demands for Tx {}
impl Demands for NoBody {}
impl Demands for HeaderMap {}

/// What a handler demands: a key if any argument does, and the first permission they name.
pub trait HandlerPermission<Args> {
    const KEY: bool;
    const PERMISSION: Option<Permission>;
}

macro_rules! handler_permission {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg: Demands),*> HandlerPermission<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut,
        {
            const KEY: bool = false $(|| $arg::KEY)*;
            const PERMISSION: Option<Permission> = first(&[$($arg::PERMISSION),*]);
        }
    };
}

handler_permission!();
handler_permission!(A);
handler_permission!(A, B);
handler_permission!(A, B, C);
handler_permission!(A, B, C, D);
handler_permission!(A, B, C, D, E);
handler_permission!(A, B, C, D, E, G);
handler_permission!(A, B, C, D, E, G, H);

const fn first(demands: &[Option<Permission>]) -> Option<Permission> {
    let mut i = 0;
    while i < demands.len() {
        if demands[i].is_some() {
            return demands[i];
        }
        i += 1;
    }
    None
}

/// What `handler` demands of the key (inferred from its type): whether it needs one, and
/// which permission.
pub const fn demands_of<H: HandlerPermission<Args>, Args>(_handler: &H) -> (bool, Option<Permission>) {
    (H::KEY, H::PERMISSION)
}

/// Writes what the handler demands into the operation: the `ApiKey` security requirement and
/// the permission as `x-permission` (`null` for any valid key).
pub fn set_demands(operation: &mut Operation, (key, permission): (bool, Option<Permission>)) {
    if !key {
        return;
    }
    operation.security = Some(vec![SecurityRequirement::new("ApiKey", Vec::<String>::new())]);
    let value = permission.map_or(serde_json::Value::Null, |p| p.as_str().into());
    let extension = ExtensionsBuilder::new().add("x-permission", value).build();
    operation.extensions.get_or_insert_with(Default::default).merge(extension);
}

/// `utoipa_axum::routes!`, with each handler's `security` and `x-permission` set from its
/// `Auth<P>`.
macro_rules! routes {
    ( $handler:path $(, $tail:path)* $(,)? ) => {{
        #[allow(unused_imports)]
        use utoipa_axum::PathItemExt;
        let mut paths = utoipa::openapi::path::Paths::new();
        let mut schemas = Vec::<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>::new();
        let method_router = axum::routing::MethodRouter::new();
        let method_router = $crate::api::route::routes!(@one schemas, method_router, paths, $handler);
        $( let method_router = $crate::api::route::routes!(@one schemas, method_router, paths, $tail); )*
        (schemas, paths, method_router)
    }};
    (@one $schemas:ident, $router:ident, $paths:ident, $handler:path) => {{
        let (path, mut operation, types) = utoipa_axum::routes!(@resolve_types $handler : $schemas);
        $crate::api::route::set_demands(&mut operation, $crate::api::route::demands_of(&$handler));
        let router = types.iter().by_ref().fold($router, |router, path_type| {
            router.on(path_type.to_method_filter(), $handler)
        });
        $paths.add_path_operation(&path, types, operation);
        router
    }};
}

pub(crate) use routes;
