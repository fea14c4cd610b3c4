//! Immutable result objects: `#[pyclass(frozen, eq)]` with every field
//! readable and a `repr` that shows them. Fields keep Rust values and turn
//! into Python objects when read, so a result nobody inspects costs no
//! Python allocations beyond itself.

/// Declares a frozen result class with `repr` and equality.
macro_rules! record {
    ($(#[$meta:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[pyo3::pyclass(frozen, eq, module = "unistock", get_all)]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty),*
        }

        #[pyo3::pymethods]
        impl $name {
            fn __repr__(&self, py: pyo3::Python<'_>) -> pyo3::PyResult<String> {
                #[allow(unused_imports)]
                use pyo3::IntoPyObjectExt;
                #[allow(unused_mut)]
                let mut fields: Vec<String> = Vec::new();
                $(
                    let v = self.$field.clone().into_bound_py_any(py)?;
                    fields.push(format!("{}={}", stringify!($field), v.repr()?));
                )*
                Ok(format!("{}({})", stringify!($name), fields.join(", ")))
            }
        }
    };
}

pub(crate) use record;
