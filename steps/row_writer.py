"""Write a segment of converted rows: match, compare, and save what changed.

A segment is a run of rows with distinct keys. Each row is matched to an
existing object by its key, compared with it, and only new and changed rows
are written: in bulk (one ``INSERT`` for the new rows, and one ``INSERT ...
ON CONFLICT DO UPDATE`` or ``bulk_update`` for the changed ones) or one
``save()`` a row. A database error in a bulk write sends the segment's rows
through ``save()`` one by one, each in its own savepoint, so the error is
tied to its row and the rest are kept. An error of the database itself
rather than of a row (a lock it could not take, a lost connection) is
raised instead: it is transient, and the step's retry policy deals with it.
"""

import logging
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.db.models import Q, UniqueConstraint
from django.db.models.base import DEFERRED
from django.db.models.expressions import RawSQL
from django.db.models.fields import NOT_PROVIDED
from django.db.models.signals import pre_init
from django.utils.translation import gettext as _

from .errors import RowRejected
from .mapping import FieldRule

logger = logging.getLogger(__name__)


@dataclass
class PendingRow:
    """A converted row waiting to be written.

    Attributes:
        number: The row's number in the source.
        key: The values of the key fields, in the config's order.
        values: Attribute name (``category_id`` for a FK) to value.
        many: ManyToManyField name to the sorted primary keys of its targets.
        outcome: ``"created"``, ``"updated"`` or ``"unchanged"`` once written.
    """

    number: int
    key: tuple
    values: dict
    many: dict = field(default_factory=dict)
    outcome: str | None = None


def upsert_possible(model, key: list[str]) -> bool:
    """Return whether rows of ``model`` can be upserted on the ``key`` fields.

    That needs a database that supports ``ON CONFLICT (...) DO UPDATE``
    (PostgreSQL, SQLite) and a unique constraint on exactly the key fields:
    a unique field, ``unique_together``, or an unconditional
    ``UniqueConstraint`` on fields.
    """
    connection = connections[router.db_for_write(model)]
    if not connection.features.supports_update_conflicts_with_target:
        return False
    wanted = set(key)
    fields = [model._meta.get_field(name) for name in key]
    if len(fields) == 1 and (fields[0].unique or fields[0].primary_key):
        return True
    if any(set(together) == wanted for together in model._meta.unique_together):
        return True
    return any(
        isinstance(c, UniqueConstraint)
        and set(c.fields) == wanted
        and c.condition is None
        and not c.expressions
        and c.deferrable is None
        for c in model._meta.constraints
    )


class RowWriter:
    """Writes segments of :class:`PendingRow` to one model.

    Args:
        model: The model written to.
        rules: The mapping's rules.
        key: The names of the key fields.
        action: ``create_or_update``, ``create_only``, ``update_only`` or
            ``skip_existing``.
        update_fields: The field names an update may change; empty: all
            mapped fields but the key.
        row_by_row: Save each row on its own (``save()`` in a savepoint)
            instead of in bulk.
        full_save: Call ``save()`` without ``update_fields``, so that a
            model's ``save()`` and signals see and may change every field.
    """

    def __init__(
        self,
        model,
        rules: list[FieldRule],
        key: list[str],
        *,
        action: str,
        update_fields: list[str],
        row_by_row: bool,
        full_save: bool,
        long_transaction: bool = False,
    ):
        self.model = model
        self.rules = rules
        self.key = key
        self.key_attnames = [model._meta.get_field(name).attname for name in key]
        self.action = action
        self.row_by_row = row_by_row
        self.full_save = full_save
        self.long_transaction = long_transaction
        names = update_fields or [rule.name for rule in rules]
        self.allowed = {
            r.attname
            for r in rules
            if r.name in names and r.name not in key and not r.many
        }
        self.many_rules = [r for r in rules if r.many]
        self.allowed_many = {r.name for r in self.many_rules if r.name in names}
        self.upsert = upsert_possible(model, key)
        self.new_object = ObjectFactory(model)
        # Existing rows are read as tuples of every concrete field, in the
        # model's order, and made instances only if they are to be written.
        self.attnames = [f.attname for f in model._meta.concrete_fields]
        self.position = {name: n for n, name in enumerate(self.attnames)}
        self.key_positions = [self.position[name] for name in self.key_attnames]
        self.pk_position = self.position[model._meta.pk.attname]
        self.db = None
        # save() and its signals may fill fields a bulk insert would leave
        # empty, so only a bulk write checks them first.
        self.required = [] if row_by_row else required_fields(model)

    def write(
        self, segment: list[PendingRow], *, again: bool = True
    ) -> list[tuple[int, RowRejected]]:
        """Write ``segment``; set each row's outcome; return rejected rows.

        Another writer (a parallel chunk, another run) may store a row with
        the same key between the moment this one reads the stored rows and
        the moment it inserts: the insert then breaks the unique key. When
        that happens, the rows are matched again against what is stored
        now, so they update what the other writer stored instead of being
        refused as duplicates. That repeats as long as each match leaves
        fewer rows to create, however many batches the other writer
        commits meanwhile; ``again=False`` matches only once.

        Rows are written in the order of their keys, so that two writers
        of overlapping keys take their locks in the same order and do not
        deadlock each other.

        Returns:
            ``(row number, RowRejected)`` for each row that could not be
            written, in row order; every other row has its ``outcome`` set.
        """
        if not segment:
            return []
        to_create = len(segment) + 1
        while True:
            rejected, creates, updates = self._match(segment)
            # Matching again only pays while it finds rows stored meanwhile;
            # rows deleted as fast as they are stored could go on for ever.
            again = again and len(creates) < to_create
            to_create = len(creates)
            saved = self._save(creates, updates, again)
            if saved is not _MATCH_AGAIN:
                return sorted(rejected + saved, key=lambda item: item[0])

    def _match(self, segment: list[PendingRow]) -> tuple[list, list, list]:
        """Match ``segment`` against the stored rows.

        Returns:
            ``(rejected, creates, updates)``: the rows refused, and the
            ``(row, object, changed fields)`` to create and to update, in
            key order. Unchanged rows get their outcome and are in neither.
        """
        existing = self._existing([row.key for row in segment])
        pk = self.pk_position
        current = self._current_many([stored[pk] for stored in existing.values()])
        self.current = current
        rejected, creates, updates = [], [], []
        for row in segment:
            stored = existing.get(row.key)
            problem = self._classify(row, stored, current, creates, updates)
            if problem is not None:
                rejected.append((row.number, problem))
        _in_key_order(creates)
        _in_key_order(updates)
        return rejected, creates, updates

    def _classify(self, row, stored, current, creates, updates) -> RowRejected | None:
        """Sort ``row`` into ``creates`` or ``updates``, or set it unchanged.

        ``stored`` is the existing row's values as :meth:`_existing` reads
        them, or ``None``; ``current`` its ManyToMany links.
        """
        if stored is None:
            if self.action == "update_only":
                return RowRejected(
                    _("no existing row has the key %(key)s.") % {"key": _show(row.key)},
                    code="does_not_exist",
                    **self._key_place(row),
                )
            unfilled = [
                f
                for f in self.required
                if f.attname not in row.values and f.name not in row.values
            ]
            if unfilled:
                return RowRejected(
                    _(
                        "field %(field)r is required and the row gives it no "
                        "value: map a column to it, or give it a constant."
                    )
                    % {"field": unfilled[0].name},
                    code="required",
                )
            creates.append((row, self.new_object(row.values), set()))
            return None
        if self.action == "create_only":
            return RowRejected(
                _("a row with the key %(key)s exists already.")
                % {"key": _show(row.key)},
                code="exists",
                **self._key_place(row),
            )
        if self.action == "skip_existing":
            row.outcome = "unchanged"
            return None
        allowed, position = self.allowed, self.position
        changes = {
            a: v
            for a, v in row.values.items()
            if a in allowed and stored[position[a]] != v
        }
        # An update leaves the links of fields outside update_fields alone.
        row.many = {n: v for n, v in row.many.items() if n in self.allowed_many}
        pk = stored[self.pk_position]
        many_changed = {
            r.name
            for r in self.many_rules
            if r.name in row.many and row.many[r.name] != current.get((r.name, pk), [])
        }
        if not changes and not many_changed:
            row.outcome = "unchanged"
            return None
        obj = self.model.from_db(self.db, self.attnames, stored)
        for attname, value in changes.items():
            setattr(obj, attname, value)
        updates.append((row, obj, set(changes)))
        return None

    def _existing(self, keys: list[tuple]) -> dict[tuple, tuple]:
        """Return the stored rows that ``keys`` name, by key.

        Each row is a tuple of every concrete field's value, in the order
        of ``self.attnames``: reading tuples costs about a third less than
        reading instances, and most rows of a re-import are never written.
        """
        manager = self.model._default_manager
        attnames = self.key_attnames
        if len(attnames) == 1:
            values = self._in_values([k[0] for k in keys], manager.db)
            found = manager.filter(**{f"{attnames[0]}__in": values})
        else:
            found = manager.filter(
                reduce(or_, (Q(**dict(zip(attnames, key))) for key in keys))
            )
        # The model's default ordering would only make the database sort.
        found = found.order_by()
        self.db = found.db
        positions = self.key_positions
        if len(positions) == 1:
            (at,) = positions
            return {(row[at],): row for row in found.values_list(*self.attnames)}
        return {
            tuple(row[n] for n in positions): row
            for row in found.values_list(*self.attnames)
        }

    def _in_values(self, values: list, alias: str) -> list | RawSQL:
        """Return ``values`` as the right-hand side of the key's ``__in``.

        On PostgreSQL, a key of a plain integer, UUID or text type is sent
        as one array, ``IN (SELECT unnest(%s::integer[]))``: a thousand
        parameters cost more to prepare and quote than the query costs to
        run. Any other key, or database, gets the list as it is.
        """
        connection = connections[alias]
        model_field = self.model._meta.get_field(self.key[0])
        if (
            connection.vendor != "postgresql"
            or model_field.get_internal_type() not in _ARRAY_KEY_TYPES
            or getattr(model_field, "db_collation", None)
        ):
            return values
        prepared = [model_field.get_db_prep_value(v, connection) for v in values]
        cast = model_field.cast_db_type(connection)
        return RawSQL(f"SELECT unnest(%s::{cast}[])", [prepared])

    def _current_many(self, pks: list) -> dict[tuple[str, Any], list]:
        """Return ``(field name, pk)`` → sorted target pks of existing objects."""
        current: dict[tuple[str, Any], list] = {}
        if not pks:
            return current
        for rule in self.many_rules:
            through, source, target = _through(rule)
            pairs = through.objects.filter(**{f"{source}__in": pks})
            for pk, target_pk in pairs.values_list(source, target).order_by(target):
                current.setdefault((rule.name, pk), []).append(target_pk)
        return current

    def _key_place(self, row: PendingRow) -> dict:
        """Return the ``column`` and ``value`` of a row refused for its key.

        A key of one field names that field's column and its value; a key
        of several names their columns, comma-separated, and no one value.
        """
        labels = [
            str(rule.label)
            for name in self.key
            for rule in self.rules
            if rule.name == name and rule.label is not None
        ]
        value = row.key[0] if len(row.key) == 1 else None
        return {"column": ", ".join(labels) or None, "value": value}

    def _save(
        self, creates: list, updates: list, again: bool
    ) -> list[tuple[int, RowRejected]]:
        if not creates and not updates:
            return []
        if self.row_by_row:
            return self._save_one_by_one(creates, updates, again)
        try:
            with transaction.atomic():
                self._save_in_bulk(creates, updates)
        except DatabaseError as exc:
            self._give_up_unless_rows_are_at_fault(exc, bulk=True)
            if again and self._stored_meanwhile(creates):
                logger.debug(
                    "Rows of %s were stored meanwhile (%s); matching again",
                    self.model._meta.label,
                    exc,
                )
                return _MATCH_AGAIN
            # The segment broke a database constraint. Saving the rows one
            # by one, each in its own savepoint, ties the error to its row.
            logger.debug(
                "Bulk write of %s failed (%s); writing row by row",
                self.model._meta.label,
                exc,
            )
            for _row, obj, _fields in creates:
                obj.pk = None
                obj._state.adding = True
            return self._save_one_by_one(creates, updates, again)
        for row, _obj, _fields in creates:
            row.outcome = "created"
        for row, _obj, _fields in updates:
            row.outcome = "updated"
        return []

    def _give_up_unless_rows_are_at_fault(
        self, exc: DatabaseError, *, bulk: bool
    ) -> None:
        """Re-raise ``exc`` unless the rows being written may have caused it.

        A constraint or a value the database refuses (``IntegrityError``,
        ``DataError``) belongs to a row, and the caller ties it to its row.
        An ``OperationalError`` or ``InterfaceError`` (a lock not granted
        in time, SQLite's "database is locked", a lost connection) says
        nothing about the rows: refusing them for it would lose good rows,
        so it is raised, and the step's retry policy retries the step or
        chunk, which finds the rows already written unchanged.

        The one exception is a deadlock or serialization failure on a bulk
        write in a transaction of one batch: its rows are written again one
        by one, which takes fewer locks at a time. Writers whose
        transactions outlive a batch (a chunk, a step in one transaction)
        may each hold rows the other needs; rolling back this batch alone
        would leave this transaction holding the rest, and every row tried
        after it would deadlock again, so there it is raised too.
        """
        if not isinstance(exc, (OperationalError, InterfaceError)):
            return
        code = getattr(exc.__cause__, "sqlstate", None) or getattr(
            exc.__cause__, "pgcode", None
        )
        rolled_back = code in _TRANSACTION_ROLLBACK_CODES
        if bulk and rolled_back and not self.long_transaction:
            return
        raise exc

    def _stored_meanwhile(self, creates: list) -> bool:
        """Whether a row about to be created was stored by another writer.

        Asked after a write failed and its savepoint was rolled back.
        """
        if not creates:
            return False
        return bool(self._existing([row.key for row, _obj, _fields in creates]))

    def _save_in_bulk(self, creates: list, updates: list) -> None:
        manager = self.model._default_manager
        if creates:
            created = [obj for _row, obj, _fields in creates]
            manager.bulk_create(created)
            if any(obj.pk is None for obj in created):
                self._fetch_pks(creates)
        changed = sorted(set().union(*(fields for _row, _obj, fields in updates)))
        objects = [obj for _row, obj, fields in updates if fields]
        if objects and self.upsert:
            # Without a primary key, the INSERT part of the upsert conflicts
            # on the key fields only, never on the primary key first.
            pks = [obj.pk for obj in objects]
            for obj in objects:
                obj.pk = None
            try:
                manager.bulk_create(
                    objects,
                    update_conflicts=True,
                    unique_fields=self.key,
                    update_fields=changed,
                )
            finally:
                for obj, pk in zip(objects, pks):
                    obj.pk = pk
        elif objects:
            manager.bulk_update(objects, changed)
        self._write_many(creates + updates)

    def _fetch_pks(self, creates: list) -> None:
        found = self._existing([row.key for row, _obj, _fields in creates])
        for row, obj, _fields in creates:
            obj.pk = found[row.key][self.pk_position]

    def _write_many(self, work: list) -> None:
        """Add and remove the ManyToMany links of ``work`` in bulk."""
        for rule in self.many_rules:
            through, source, target = _through(rule)
            wanted = {
                obj.pk: set(row.many[rule.name])
                for row, obj, _fields in work
                if rule.name in row.many
            }
            if not wanted:
                continue
            # The links of existing objects were read to compare them; new
            # objects have none.
            have = {pk: set(self.current.get((rule.name, pk), [])) for pk in wanted}
            removed = [
                Q(**{source: pk, f"{target}__in": have.get(pk, set()) - targets})
                for pk, targets in wanted.items()
                if have.get(pk, set()) - targets
            ]
            if removed:
                through.objects.filter(reduce(or_, removed)).delete()
            added = [
                through(**{source: pk, target: target_pk})
                for pk, targets in wanted.items()
                for target_pk in sorted(targets - have.get(pk, set()))
            ]
            through.objects.bulk_create(added)

    def _save_one_by_one(self, creates: list, updates: list, again: bool) -> list:
        work = [(row, obj, fields, True) for row, obj, fields in creates]
        work += [(row, obj, fields, False) for row, obj, fields in updates]
        # In key order, like a bulk write, for the same lock order.
        _in_key_order(work)
        rejected = []
        for row, obj, fields, created in work:
            try:
                with transaction.atomic():
                    self._save_one(row, obj, fields, created)
            except DatabaseError as exc:
                self._give_up_unless_rows_are_at_fault(exc, bulk=False)
                if created:
                    obj.pk = None
                    obj._state.adding = True
                    if again and self._stored_meanwhile([(row, obj, fields)]):
                        rejected += self.write([row], again=False)
                        continue
                rejected.append((row.number, self._explain(obj, exc)))
                continue
            row.outcome = "created" if created else "updated"
        return rejected

    def _save_one(self, row: PendingRow, obj, fields: set, created: bool) -> None:
        if created:
            obj.save(force_insert=True)
        elif self.full_save:
            obj.save()
        elif fields:
            obj.save(update_fields=sorted(fields))
        for rule in self.many_rules:
            if rule.name in row.many:
                getattr(obj, rule.name).set(row.many[rule.name])

    def _explain(self, obj, exc: DatabaseError) -> RowRejected:
        """Return why the database refused ``obj``: a unique field, or ``exc``."""
        try:
            obj.validate_unique()
            obj.validate_constraints()
        except ValidationError as error:
            name, messages = next(iter(error.message_dict.items()))
            rule = next((r for r in self.rules if r.name == name), None)
            if name == NON_FIELD_ERRORS:
                names = ", ".join(self.key)
            else:
                names = name
            return RowRejected(
                _("field %(field)r: %(error)s")
                % {"field": names, "error": messages[0]},
                column=rule.label if rule else None,
                value=getattr(obj, rule.attname) if rule else None,
                code="unique",
            )
        return RowRejected(
            _("the database refused the row: %(error)s") % {"error": exc},
            code="integrity",
        )


class ObjectFactory:
    """Makes unsaved model instances from attribute values, quickly.

    ``Model(**values)`` matches every keyword to a field one by one; an
    import makes an instance a row, so this passes the values by position
    instead, in the model's field order, with each missing field's default
    filled in as ``Model.__init__`` would. ``__init__`` still runs, with
    its signals. Values keyed by anything but field attribute names (a
    related instance, a property), and models with ``pre_init`` receivers,
    which are told the keywords, go through ``Model(**values)``.

    Args:
        model: The model to instantiate.
    """

    def __init__(self, model):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.position = {f.attname: n for n, f in enumerate(self.fields)}
        self.template = [self._fixed_default(f) for f in self.fields]
        self.plans: dict[tuple, tuple | None] = {}

    def __call__(self, values: dict):
        """Return ``self.model(**values)``, made by position when it can be."""
        names = tuple(values)
        try:
            plan = self.plans[names]
        except KeyError:
            plan = self.plans[names] = self._plan(names)
        if plan is None or pre_init.has_listeners(self.model):
            return self.model(**values)
        positions, defaults = plan
        args = self.template.copy()
        for n, value in zip(positions, values.values()):
            args[n] = value
        for n, default in defaults:
            args[n] = default()
        return self.model(*args)

    def _plan(self, names: tuple) -> tuple | None:
        """Return where ``names`` go and which defaults to make, or ``None``."""
        if any(name not in self.position for name in names):
            return None
        positions = [self.position[name] for name in names]
        defaults = [
            (n, f.get_default)
            for n, f in enumerate(self.fields)
            if n not in positions and self.template[n] is _MADE_EACH_TIME
        ]
        return positions, defaults

    @staticmethod
    def _fixed_default(model_field):
        """Return the field's default if it is the same object every time.

        A generated field gets ``DEFERRED``, which ``__init__`` skips, as it
        skips such a field given by keyword.
        """
        if model_field.generated:
            return DEFERRED
        made = model_field.has_db_default() or (
            model_field.has_default() and callable(model_field.default)
        )
        return _MADE_EACH_TIME if made else model_field.get_default()


def required_fields(model) -> list:
    """Return the fields a new row of ``model`` cannot be saved without.

    A field is required when the database would refuse the row without
    it: not null, with no default in Python or in the database, not set
    on save (``auto_now``, ``auto_now_add``), not an automatic primary key
    or the link to a parent model, and not a text field (those default to
    ``""``).
    """
    required = []
    for model_field in model._meta.concrete_fields:
        if (
            model_field.null
            or model_field.has_default()
            or getattr(model_field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED
            or getattr(model_field, "auto_now", False)
            or getattr(model_field, "auto_now_add", False)
            or getattr(model_field, "db_returning", False)
            or model_field.empty_strings_allowed
            or (model_field.is_relation and model_field.remote_field.parent_link)
        ):
            continue
        required.append(model_field)
    return required


#: Key field types whose values PostgreSQL takes as one array of the type.
_ARRAY_KEY_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "CharField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallAutoField",
        "SmallIntegerField",
        "TextField",
        "UUIDField",
    }
)

#: SQLSTATE codes of a transaction the database rolled back to break a
#: deadlock (40P01) or a serialization failure (40001).
_TRANSACTION_ROLLBACK_CODES = frozenset({"40P01", "40001"})

#: Returned by RowWriter._save when the rows are to be matched again.
_MATCH_AGAIN: Any = object()


def _in_key_order(work: list) -> None:
    """Sort ``(row, obj, ...)`` items to write by their rows' keys, in place.

    Keys of one import are cleaned by the same fields, so they compare;
    ``None`` (a nullable key part) sorts first. Should a converter give
    values of types that do not compare, their text orders them, the same
    way in every writer.
    """
    try:
        work.sort(key=lambda item: tuple((p is not None, p) for p in item[0].key))
    except TypeError:
        work.sort(key=lambda item: repr(item[0].key))


#: Stands for a default that is made anew for each instance.
_MADE_EACH_TIME = object()


def _through(rule: FieldRule) -> tuple:
    model_field = rule.model_field
    through = model_field.remote_field.through
    source = model_field.m2m_field_name()
    target = model_field.m2m_reverse_field_name()
    return through, f"{source}_id", f"{target}_id"


def _show(key: tuple) -> str:
    return ", ".join(repr(part) for part in key)
