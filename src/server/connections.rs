//! The fixed table of one worker's connections, indexed by mio token. Capacity is reserved at worker start
//! (`CONNECTIONS_PER_WORKER_MAX`); inserting never reallocates, and a full table refuses the connection.

use super::conn::Conn;

pub struct Connections {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    len: usize,
}

impl Connections {
    pub fn with_capacity(capacity: usize) -> Connections {
        Connections { slots: Vec::with_capacity(capacity), free: Vec::with_capacity(capacity), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot the next `insert` will use, or None when the table is full.
    pub fn vacant(&self) -> Option<usize> {
        match self.free.last() {
            Some(&i) => Some(i),
            None if self.slots.len() < self.slots.capacity() => Some(self.slots.len()),
            None => None,
        }
    }

    /// Stores `conn` in the slot `vacant` returned.
    pub fn insert(&mut self, index: usize, conn: Conn) {
        if self.free.last() == Some(&index) {
            self.free.pop();
            self.slots[index] = Some(conn);
        } else {
            debug_assert_eq!(index, self.slots.len());
            self.slots.push(Some(conn));
        }
        self.len += 1;
    }

    pub fn get_mut(&mut self, index: usize) -> Option<&mut Conn> {
        self.slots.get_mut(index).and_then(Option::as_mut)
    }

    pub fn remove(&mut self, index: usize) -> Option<Conn> {
        let conn = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        self.len -= 1;
        Some(conn)
    }

    /// Indices of every slot ever used (occupied or not): for the once-a-second timeout sweep.
    pub fn indices(&self) -> std::ops::Range<usize> {
        0..self.slots.len()
    }
}
