//! The paging of every list, as the API's query parameters give it: see [`crate::domain::page`].

pub use crate::domain::page::{Page, PageRequest, DEFAULT_LIMIT, MAX_LIMIT};

use std::borrow::Cow;

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};

/// The OpenAPI schema of one page of `item`s: `{data: [item], nextCursor}`.
pub fn page_schema(item: Cow<'static, str>, description: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .description(Some(description))
        .property("data", ArrayBuilder::new().items(Ref::from_schema_name(item)))
        .required("data")
        .property(
            "nextCursor",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some("Pass as `cursor` to get the next page; `null` on the last page.")),
        )
        .into()
}

/// Names `Page<Item>` in the OpenAPI document: `paged!(LocationList = Location, "locations")`
/// makes `LocationList` an alias of `Page<Location>`, published as the schema `LocationList`,
/// "One page of locations.".
macro_rules! paged {
    ($alias:ident = $item:ty, $plural:literal) => {
        #[doc = concat!("One page of ", $plural, ".")]
        pub type $alias = $crate::http::pagination::Page<$item>;

        impl utoipa::PartialSchema for $crate::http::pagination::Page<$item> {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::http::pagination::page_schema(
                    <$item as utoipa::ToSchema>::name(),
                    concat!("One page of ", $plural, ".").to_string(),
                )
            }
        }

        impl utoipa::ToSchema for $crate::http::pagination::Page<$item> {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($alias))
            }

            fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                schemas.push((
                    <$item as utoipa::ToSchema>::name().into_owned(),
                    <$item as utoipa::PartialSchema>::schema(),
                ));
                <$item as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}

pub(crate) use paged;

/// A list's query parameters: its own filters, then the paging every list shares —
/// `updatedSince` (left out with `without updatedSince`), `limit` and `cursor` — written
/// here once. Unknown parameters are refused. `.page()` checks them into a [`PageRequest`].
///
/// ```ignore
/// list_query! {
///     pub struct ListProvidersQuery {
///         /// Only providers who work at this location.
///         pub location_id: Option<i64>,
///     }
/// }
/// ```
macro_rules! list_query {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident : $type:ty),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
            /// Only records updated at or after this instant; orders the list by `(updatedAt, id)`.
            #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
            pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
            /// Page size, 1–200 (default 50).
            #[param(minimum = 1, maximum = 200)]
            pub limit: Option<i64>,
            /// The `nextCursor` of the previous page.
            pub cursor: Option<String>,
        }

        impl $name {
            pub fn page(&self) -> Result<$crate::http::pagination::PageRequest, $crate::http::error::ApiError> {
                Ok($crate::http::pagination::PageRequest::new(self.limit, self.cursor.as_deref(), self.updated_since)?)
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident : $type:ty),* $(,)? }
        without updatedSince
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
            /// Page size, 1–200 (default 50).
            #[param(minimum = 1, maximum = 200)]
            pub limit: Option<i64>,
            /// The `nextCursor` of the previous page.
            pub cursor: Option<String>,
        }

        impl $name {
            pub fn page(&self) -> Result<$crate::http::pagination::PageRequest, $crate::http::error::ApiError> {
                Ok($crate::http::pagination::PageRequest::new(self.limit, self.cursor.as_deref(), None)?)
            }
        }
    };
}

pub(crate) use list_query;
