// Preloaded into Azurite (node --require) by `tools/azurite.py` when asked for an indexed
// emulator (`running(indexed=True)`, `benchmarks/entra_bench.py --emulator indexed`).
//
// Why: Azurite 3.37 answers every entity query by running the filter over the whole table and
// sorting what matched (LokiTableMetadataStore.queryTableEntities: `.where(filter)` over the
// collection, then `.sort`), so a 100-row range query costs O(rows in the table). Azure Table
// Storage serves `PartitionKey eq … and RowKey ge|gt … and RowKey lt …` from its (PartitionKey,
// RowKey) index. This patch gives Azurite that complexity for exactly that query shape (what
// the store sends for every range read, and the repair walk with `gt` to resume after a row),
// so the benchmark can show how latency scales with the tenant's size rather than with the
// emulator's scan. It also keeps the upkeep of Loki's indexes from costing the whole table per
// insert, update and delete (below). Everything else (point reads, batches, other filters) is
// Azurite's own code.
//
// How: Loki's binary index on RowKey is walked from the lower bound, in key order, applying
// the predicates Azurite applies (the partition, the exact RowKey bounds in JavaScript string
// order, the full OData filter, the continuation token) until $top + 1 rows matched, which
// Azurite's own code then turns into the page and its continuation token. Loki's index orders
// keys that read as numbers ("12", "Infinity") and "" before all others; the shortcut is only
// taken when both bounds start with a letter, so the other keys between them are ordered
// alike by Loki and by JavaScript, and the numeric-looking ones (none in our tables: keys
// start with "U:", "M:", …) are checked apart. tests/tools/test_azurite_range_index.py compares its
// answers with stock Azurite's.
"use strict";

const path = require("path");

const persistence = path.join(__dirname, "..", "node_modules", "azurite", "dist", "src", "table",
                              "persistence");
const Store = require(path.join(persistence, "LokiTableMetadataStore.js")).default;
const Generator = require(path.join(persistence, "LokiTableStoreQueryGenerator.js")).default;
const Loki = require(require.resolve("lokijs", {paths: [persistence]}));

const LITERAL = "'((?:[^']|'')*)'";
const RANGE = new RegExp(
  `^\\s*PartitionKey eq ${LITERAL} and RowKey (ge|gt) ${LITERAL} and RowKey lt ${LITERAL}` +
  "(?:\\s+and\\s+[^]*)?$");
const STARTS_WITH_LETTER = /^[A-Za-z]/;

function unquote(text) {
  return text.replace(/''/g, "'");
}

// The keys Loki's comparator sorts before all others: "" and those that read as numbers.
function numberLike(key) {
  return key === "" || Number(key) === Number(key);
}

function byRowKey(a, b) {
  return a.RowKey < b.RowKey ? -1 : a.RowKey > b.RowKey ? 1 : 0;
}

const stockQuery = Store.prototype.queryTableEntities;
const stockInsert = Loki.Collection.prototype.adaptiveBinaryIndexInsert;

Store.prototype.queryTableEntities = async function (context, account, table, queryOptions,
                                                     nextPartitionKey, nextRowKey) {
  const match = RANGE.exec(queryOptions.filter || "");
  if (!match || /\bor\b/.test(queryOptions.filter)) {
    return stockQuery.apply(this, arguments);
  }
  const partition = unquote(match[1]);
  let inclusive = match[2] === "ge";
  let low = unquote(match[3]);
  const high = unquote(match[4]);
  if (!STARTS_WITH_LETTER.test(low) || !STARTS_WITH_LETTER.test(high)) {
    return stockQuery.apply(this, arguments);
  }
  const collection = this.getEntityCollection(account, table, context);
  const filter = Generator.generateQueryForPersistenceLayer(queryOptions, context);
  const maxResults = this.getMaxResultsOption(queryOptions);
  const nextPk = this.decodeContinuationHeader(nextPartitionKey);
  const nextRk = this.decodeContinuationHeader(nextRowKey);
  if (nextPk !== undefined) {
    if (nextPk > partition) {
      return [[], undefined, undefined];
    }
    if (nextPk === partition && nextRk !== undefined && nextRk > low) {
      low = nextRk; // Azurite's continuation: rows from the token's key on, inclusive
      inclusive = true;
    }
  }
  const matches = (entity) => entity.PartitionKey === partition &&
    (inclusive ? entity.RowKey >= low : entity.RowKey > low) && entity.RowKey < high &&
    filter(entity);
  // Walk the RowKey index from `low` in key order and stop once the page (+1, which Azurite
  // turns into the continuation token) is full: O(log n + rows read), not O(n).
  let result = [];
  if (low < high && collection.data.length) {
    collection.ensureIndex("RowKey");
    const order = collection.binaryIndices.RowKey.values;
    const [first, last] = collection.calculateRange("$between", "RowKey", [low, high]);
    for (let i = first; i <= last && i >= 0 && result.length <= maxResults; i++) {
      const entity = collection.data[order[i]];
      if (!numberLike(entity.RowKey) && matches(entity)) {
        result.push(entity);
      }
    }
    // Loki sorts keys that read as numbers ("12", "Infinity") and "" before every other key;
    // any of them within the bounds in string order joins the page in its string place.
    const head = [];
    for (let i = 0; i < order.length; i++) {
      if (!numberLike(collection.data[order[i]].RowKey)) {
        break;
      }
      if (matches(collection.data[order[i]])) {
        head.push(collection.data[order[i]]);
      }
    }
    if (head.length) {
      result = result.concat(head).sort(byRowKey).slice(0, maxResults + 1);
    }
  }
  const response = this.adjustQueryResultforTop(result, maxResults);
  return [result, response.nextPartitionKeyResponse, response.nextRowKeyResponse];
};

// Inserts. Loki keeps each binary index (PartitionKey, RowKey) as a sorted array and inserts a
// row's position at the start of the rows with an equal value (calculateRangeStart), so every
// row added to a partition moves the index entries of the whole partition: seeding one
// partition of n rows costs O(n²). Inserting after the equal values instead costs O(log n),
// plus the entries after the insertion point (none when rows arrive in key order, as the
// benchmarks seed them). Loki never relies on the order among equal values: lookups take the
// whole equal range (calculateRange), removal finds a row's entry by scanning that range
// (getBinaryIndexPosition) and an update by scanning the whole index
// (adaptiveBinaryIndexUpdate, which then inserts here). Queries order rows themselves:
// Azurite sorts its matches, the range shortcut above walks the RowKey index and keeps one
// partition, whose RowKeys are unique.
const Comparators = Loki.Comparators;

Loki.Collection.prototype.adaptiveBinaryIndexInsert = function (dataPosition, binaryIndexName) {
  const value = this.data[dataPosition][binaryIndexName];
  if (binaryIndexName.indexOf(".") !== -1 || value instanceof Date) {
    // Not Azurite's indexes (PartitionKey and RowKey, strings): Loki's own, which also
    // turns a Date into its epoch time when the collection's indexes are serializable.
    return stockInsert.apply(this, arguments);
  }
  const index = this.binaryIndices[binaryIndexName].values;
  // The first position whose value sorts after `value` in Loki's order (calculateRangeEnd's
  // search), so the index stays sorted as Loki's lookups expect.
  let low = 0;
  let high = index.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (Comparators.lt(value, this.data[index[mid]][binaryIndexName], false)) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  if (low === index.length) {
    index.push(dataPosition);
  } else {
    index.splice(low, 0, dataPosition);
  }
};

// Updates. Loki finds a row's entry in each binary index by scanning the whole index
// (adaptiveBinaryIndexUpdate), then moves it: O(rows in the table) for every update, tens of
// milliseconds per write of any tenant once one tenant holds millions of rows. Azurite never
// changes an entity's PartitionKey or RowKey in an update, so the entry is still in its place:
// it is looked for among the entries of its value (Loki's getBinaryIndexPosition: a binary
// search, then that range) and left there when its neighbours still order around it.
// Anything else is Loki's own update.
const stockUpdate = Loki.Collection.prototype.adaptiveBinaryIndexUpdate;

Loki.Collection.prototype.adaptiveBinaryIndexUpdate = function (dataPosition, binaryIndexName) {
  const value = this.data[dataPosition][binaryIndexName];
  if (binaryIndexName.indexOf(".") === -1 && !(value instanceof Date)) {
    const index = this.binaryIndices[binaryIndexName].values;
    const at = (i) => this.data[index[i]][binaryIndexName];
    const i = this.getBinaryIndexPosition(dataPosition, binaryIndexName);
    // Every other entry was in order before; this one is in order if its neighbours are.
    if (i !== null &&
        (i === 0 || !Comparators.lt(value, at(i - 1), false)) &&
        (i === index.length - 1 || !Comparators.lt(at(i + 1), value, false))) {
      return;
    }
  }
  return stockUpdate.apply(this, arguments);
};

// Deletes. Loki's binary indexes hold positions in the collection's data array, and a remove
// splices the row out of that array, so it renumbers every entry of every index and moves
// every row after it: O(rows in the table) a delete, and Azurite's replace
// (updateTableEntity) is a remove and an insert. Azurite does this on its one thread, so once
// one tenant holds millions of rows every other tenant's replace or delete costs tens of
// milliseconds and the emulator saturates. Table Storage's writes do not grow with the table.
//
// An entity collection the emulator creates therefore removes a row by moving the last row
// into its place (one index entry renumbered instead of all), finds rows by $loki through a
// map instead of Loki's binary search over the id index (which the move leaves unsorted), and
// indexes RowKey alone: every Azurite lookup of an entity names RowKey first (findOne
// {RowKey, PartitionKey}), so Loki never reads the PartitionKey index, while each write had
// to keep it up to date. Order in the data array means nothing to Azurite: its queries sort
// what they match, and the range shortcut above walks the RowKey index. What remains per
// delete is the splice of the sorted RowKey index; benchmarks/loki_write_costs.js times both
// removes side by side (figures in docs/performance.md). Collections Azurite loads from disk
// (`--location`) keep Loki's own behaviour.
Store.prototype.createCollectionForTable = function (tableModel) {
  const name = this.getTableCollectionName(tableModel.account, tableModel.table);
  if (this.db.getCollection(name)) {
    this.db.removeCollection(name);
  }
  movingLastOnRemove(this.db.addCollection(name, {indices: ["RowKey"]}));
};

function movingLastOnRemove(collection) {
  // Not enumerable, so that Loki's serialisation (autosave) leaves it out.
  Object.defineProperty(collection, "positions", {value: new Map(), writable: true});
  collection.data.forEach((doc, at) => collection.positions.set(doc.$loki, at));
  // Loki builds its id index lazily in its own `get`, which this one replaces; `update` writes
  // to it.
  collection.ensureId();
  const stockAdd = collection.add;

  collection.add = function (obj) {
    const added = stockAdd.call(this, obj);
    const at = this.data.length - 1;
    this.positions.set(this.data[at].$loki, at);
    return added;
  };

  collection.get = function (id, returnPosition) {
    const at = this.positions.get(typeof id === "number" ? id : parseInt(id, 10));
    if (at === undefined) {
      return null;
    }
    return returnPosition ? [this.data[at], at] : this.data[at];
  };

  collection.remove = function (doc) {
    if (Array.isArray(doc)) {
      doc.forEach((one) => this.remove(one));
      return;
    }
    if (typeof doc === "number") {
      doc = this.get(doc);
    }
    const at = doc && this.positions.get(doc.$loki);
    if (at === undefined) {
      throw new Error("Object is not a document stored in the collection");
    }
    if (this.uniqueNames.length || this.DynamicViews.length) {
      throw new Error("the preload's remove keeps binary indexes only"); // Azurite has neither
    }
    const last = this.data.length - 1;
    const moved = this.data[last];
    for (const name of Object.keys(this.binaryIndices)) {
      if (this.binaryIndices[name].dirty) {
        continue; // rebuilt from the data when next used
      }
      const entries = this.binaryIndices[name].values;
      entries.splice(indexEntry(this, name, at), 1);
      if (at !== last) {
        entries[indexEntry(this, name, last)] = at;
      }
    }
    this.data[at] = moved;
    this.data.pop();
    if (this.idIndex) {
      this.idIndex[at] = this.idIndex[last];
      this.idIndex.pop();
    }
    this.positions.delete(doc.$loki);
    if (at !== last) {
      this.positions.set(moved.$loki, at);
    }
    this.dirty = true;
    this.emit("delete", doc);
    delete doc.$loki;
    delete doc.meta;
    return doc;
  };
}

// Where a binary index holds data position `at`: among the entries of its value (Loki's
// getBinaryIndexPosition; a RowKey recurs once per partition at most), else anywhere.
function indexEntry(collection, name, at) {
  const found = collection.getBinaryIndexPosition(at, name);
  if (found !== null) {
    return found;
  }
  const anywhere = collection.binaryIndices[name].values.indexOf(at);
  if (anywhere < 0) {
    throw new Error(`binary index ${name} lost data position ${at}`);
  }
  return anywhere;
}

// For benchmarks/loki_write_costs.js, which times these changes in plain Loki.
module.exports = {movingLastOnRemove};
