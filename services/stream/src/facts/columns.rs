//! Small helpers to turn fact structs into Arrow columns and back, so each fact type lists its
//! columns once, in order, with no builder boilerplate.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, StringArray,
    TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// Accumulates named columns, then builds a `RecordBatch`.
#[derive(Debug, Default)]
pub struct ColumnsBuilder {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl ColumnsBuilder {
    fn push(&mut self, name: &str, nullable: bool, array: ArrayRef) {
        self.fields
            .push(Field::new(name, array.data_type().clone(), nullable));
        self.arrays.push(array);
    }

    pub fn utf8<'a>(
        &mut self,
        name: &str,
        nullable: bool,
        values: impl Iterator<Item = Option<&'a str>>,
    ) {
        self.push(name, nullable, Arc::new(values.collect::<StringArray>()));
    }

    pub fn u64(&mut self, name: &str, values: impl Iterator<Item = u64>) {
        self.push(name, false, Arc::new(values.collect::<UInt64Array>()));
    }

    pub fn f64(&mut self, name: &str, values: impl Iterator<Item = Option<f64>>) {
        self.push(name, true, Arc::new(values.collect::<Float64Array>()));
    }

    pub fn bool(&mut self, name: &str, values: impl Iterator<Item = bool>) {
        self.push(
            name,
            false,
            Arc::new(values.map(Some).collect::<BooleanArray>()),
        );
    }

    pub fn date32(&mut self, name: &str, values: impl Iterator<Item = i32>) {
        self.push(name, false, Arc::new(Date32Array::from_iter_values(values)));
    }

    /// Timestamps are UTC microseconds; the `UTC` zone makes that explicit to SQL clients.
    pub fn timestamp_us(&mut self, name: &str, values: impl Iterator<Item = i64>) {
        let array = TimestampMicrosecondArray::from_iter_values(values).with_timezone("UTC");
        self.fields.push(Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ));
        self.arrays.push(Arc::new(array));
    }

    pub fn finish(self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays)
    }
}

/// Typed, by-name access to the columns of a stored facts batch.
pub struct BatchReader<'a> {
    batch: &'a RecordBatch,
    by_name: HashMap<&'a str, usize>,
    /// Shared strings for repeated codes (LSOA, LAD, ...), so restored state is as compact as
    /// state built from events.
    interned: std::cell::RefCell<HashMap<String, Arc<str>>>,
}

impl<'a> BatchReader<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        let by_name = batch
            .schema_ref()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().as_str(), i))
            .collect();
        BatchReader {
            batch,
            by_name,
            interned: Default::default(),
        }
    }

    fn column<T: 'static>(&self, name: &str) -> Result<&'a T, String> {
        let index = *self
            .by_name
            .get(name)
            .ok_or_else(|| format!("missing column {name}"))?;
        self.batch
            .column(index)
            .as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| {
                format!(
                    "column {name} has type {}",
                    self.batch.column(index).data_type()
                )
            })
    }

    pub fn str(&self, name: &str, row: usize) -> Result<Option<&'a str>, String> {
        let a = self.column::<StringArray>(name)?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    pub fn string(&self, name: &str, row: usize) -> Result<Option<String>, String> {
        Ok(self.str(name, row)?.map(str::to_string))
    }

    /// A string column added after the first release: state written before it has no such
    /// column, which reads as null rather than failing the restore.
    pub fn added_string(&self, name: &str, row: usize) -> Result<Option<String>, String> {
        match self.by_name.contains_key(name) {
            true => self.string(name, row),
            false => Ok(None),
        }
    }

    pub fn arc(&self, name: &str, row: usize) -> Result<Option<Arc<str>>, String> {
        Ok(self.str(name, row)?.map(|s| {
            let mut interned = self.interned.borrow_mut();
            Arc::clone(
                interned
                    .entry(s.to_string())
                    .or_insert_with(|| Arc::from(s)),
            )
        }))
    }

    pub fn u64(&self, name: &str, row: usize) -> Result<u64, String> {
        Ok(self.column::<UInt64Array>(name)?.value(row))
    }

    pub fn f64(&self, name: &str, row: usize) -> Result<Option<f64>, String> {
        let a = self.column::<Float64Array>(name)?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    pub fn bool(&self, name: &str, row: usize) -> Result<bool, String> {
        Ok(self.column::<BooleanArray>(name)?.value(row))
    }

    pub fn date32(&self, name: &str, row: usize) -> Result<i32, String> {
        Ok(self.column::<Date32Array>(name)?.value(row))
    }

    pub fn timestamp_us(&self, name: &str, row: usize) -> Result<i64, String> {
        Ok(self.column::<TimestampMicrosecondArray>(name)?.value(row))
    }
}

/// Maps a stored string back to one of a closed set of `'static` labels.
pub fn known_value(
    value: Option<&str>,
    list: &[&'static str],
    column: &str,
) -> Result<Option<&'static str>, String> {
    value
        .map(|v| {
            list.iter()
                .copied()
                .find(|k| *k == v)
                .ok_or_else(|| format!("unknown {column} {v:?}"))
        })
        .transpose()
}
