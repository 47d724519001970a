//! `routes!`: utoipa-axum's macro of the same name, plus the operation's `x-permission`, read
//! from the handler's signature. A handler that takes `Auth<ReadPatients>` needs
//! `READ_PATIENTS`, and that is the one place the permission is written: the OpenAPI
//! document's `x-permission`, its `403` response and the operation's description
//! (`api::openapi`) are derived from it.

use axum::extract::{Query as AxumQuery, State};
use axum::http::HeaderMap;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;

use crate::api::common::NoBody;
use crate::auth::permissions::RequiredPermission;
use crate::auth::Permission;
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::tx::Tx;

/// What a handler's argument demands of the key: only `Auth<P>` demands anything.
pub trait Demands {
    const PERMISSION: Option<Permission> = None;
}

impl<P: RequiredPermission> Demands for Auth<P> {
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

/// The permission a handler demands: the first its arguments name.
pub trait HandlerPermission<Args> {
    const PERMISSION: Option<Permission>;
}

macro_rules! handler_permission {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg: Demands),*> HandlerPermission<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut,
        {
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

/// The permission `handler` demands (inferred from its type).
pub const fn permission_of<H: HandlerPermission<Args>, Args>(_handler: &H) -> Option<Permission> {
    H::PERMISSION
}

/// Writes the permission into the operation as `x-permission`.
pub fn set_permission(operation: &mut Operation, permission: Option<Permission>) {
    if let Some(permission) = permission {
        let extension = ExtensionsBuilder::new().add("x-permission", permission.as_str()).build();
        operation.extensions.get_or_insert_with(Default::default).merge(extension);
    }
}

/// `utoipa_axum::routes!`, with each handler's `x-permission` set from its `Auth<P>`.
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
        $crate::api::route::set_permission(&mut operation, $crate::api::route::permission_of(&$handler));
        let router = types.iter().by_ref().fold($router, |router, path_type| {
            router.on(path_type.to_method_filter(), $handler)
        });
        $paths.add_path_operation(&path, types, operation);
        router
    }};
}

pub(crate) use routes;
