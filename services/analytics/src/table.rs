//! One analytics result as an Arrow table, built column by column.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{Field, Schema};

/// A finished result: its table name and rows, and the parameters that produced it (recorded
/// in its manifest, so a figure can always be traced to how it was computed).
#[derive(Debug, Clone)]
pub struct AnalyticsTable {
    pub name: &'static str,
    pub batch: RecordBatch,
    pub parameters: serde_json::Value,
}

/// Accumulates named, nullable columns, then builds a `RecordBatch`.
#[derive(Debug, Default)]
pub struct Columns {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Columns {
    fn push(mut self, name: &str, array: ArrayRef) -> Self {
        self.fields
            .push(Field::new(name, array.data_type().clone(), true));
        self.arrays.push(array);
        self
    }

    pub fn text<S: AsRef<str>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let array: StringArray = values.into_iter().collect();
        self.push(name, Arc::new(array))
    }

    pub fn count(self, name: &str, values: impl IntoIterator<Item = Option<u64>>) -> Self {
        self.push(name, Arc::new(values.into_iter().collect::<UInt64Array>()))
    }

    pub fn signed(self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.push(name, Arc::new(values.into_iter().collect::<Int64Array>()))
    }

    /// Non-finite values (an undefined statistic) are stored as null.
    pub fn real(self, name: &str, values: impl IntoIterator<Item = Option<f64>>) -> Self {
        let array: Float64Array = values
            .into_iter()
            .map(|v| v.filter(|v| v.is_finite()))
            .collect();
        self.push(name, Arc::new(array))
    }

    pub fn flag(self, name: &str, values: impl IntoIterator<Item = Option<bool>>) -> Self {
        self.push(name, Arc::new(values.into_iter().collect::<BooleanArray>()))
    }

    /// The finished table. Every builder method takes one value per row from the same rows, so
    /// the columns always have equal lengths.
    pub fn into_table(self, name: &'static str, parameters: serde_json::Value) -> AnalyticsTable {
        let batch = RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays)
            .expect("every column has one value per row");
        AnalyticsTable {
            name,
            batch,
            parameters,
        }
    }
}
