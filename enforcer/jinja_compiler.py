"""How enforcer compiles its Jinja2 templates: the same templates, the same output, less work per
printed line (issue 12.7: a 10,000-entry ACL for seven platforms prints 255,000 lines).

:class:`FastEnvironment` compiles through :class:`_CodeGenerator`, which changes the Python code
Jinja2 generates, nothing in what a template means: ``a.b`` reads the attribute with Python's
``getattr`` inline (``Environment.getattr`` only for a name the object lacks), a run of text and
values between two tags is yielded as one string, ``a ~ b`` is joined inline, and an include
passes its output on with ``yield from``. The print guard decides as before: a value whose type
is in ``finalize_passes`` (the types ``finalize``, enforcer.render._finalize, returns unchanged by
their type alone) is printed without the call; every other value passes ``finalize`` before it
is joined.
:func:`compiled_templates` keeps the compiled code across processes, keyed by this compiler too.
"""

from __future__ import annotations

from typing import Any

import jinja2
import jinja2.bccache
import jinja2.compiler
import jinja2.nodes


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja2's compiler, with ``a.b`` read by Python's own ``getattr`` first: a 10,000-entry ACL for
    seven platforms reads some 980,000 attributes, each a call of ``Environment.getattr`` (a Python
    frame, then ``getattr``). The same lookup is inlined here; only a name the object lacks takes
    ``Environment.getattr``, which tries the item and else makes the ``Undefined`` (``is defined``
    still works; StrictUndefined still raises on use). The object's expression is evaluated again
    only on that path, and a template expression has no side effects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Per printed value being written: its temporary name where it skips finalize, else None.
        self._printed: list[str | None] = []

    def visit_Getattr(self, node: jinja2.nodes.Getattr, frame: jinja2.compiler.Frame) -> None:
        if self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        found = self.temporary_identifier()
        self.write(f"({found} if ({found} := getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}, missing)) is not missing else environment.getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}))")

    def visit_Output(self, node: jinja2.nodes.Output, frame: jinja2.compiler.Frame) -> None:
        """A run of text and ``{{ }}`` values between two tags, yielded as one joined string rather
        than one ``yield`` per piece: a 10,000-entry ACL's line was seven yields, each passed on
        by every template that includes it. Jinja2's own method where it buffers (a ``{% set %}``
        block, a macro's caller) or inherits; finalize and ``str`` apply to each value as before."""
        if frame.buffer is not None or frame.require_output_check or self.environment.is_async:
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        body: list[Any] = []
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, jinja2.nodes.TemplateData)):
                    raise jinja2.nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (jinja2.nodes.Impossible, Exception):
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        if len(body) < 2:
            super().visit_Output(node, frame)
            return
        self.writeline("yield ''.join((")
        self.indent()
        for item in body:
            if isinstance(item, list):
                self.writeline(self._output_const_repr(item) + ",")
            else:
                self.newline(item)
                self._output_child_pre(item, frame, finalize)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize)
                self.write(",")
        self.outdent()
        self.writeline("))")


    def _plain_finalize(self, frame: jinja2.compiler.Frame, finalize: Any) -> bool:
        """Whether a printed value of a type in ``environment.finalize_passes`` may skip the
        ``finalize`` call: only where finalize is the environment's own, called with the value
        alone, and nothing escapes (enforcer's templates: no autoescape)."""
        passes = getattr(self.environment, "finalize_passes", None)
        return bool(passes) and finalize.src == "environment.finalize(" and not (
            frame.eval_ctx.volatile or frame.eval_ctx.autoescape or self.environment.is_async)

    def _output_child_pre(self, node: jinja2.nodes.Expr, frame: jinja2.compiler.Frame, finalize: Any) -> None:
        """A printed value whose type is in ``environment.finalize_passes`` (the types finalize
        returns as they are, by type alone) is printed without the call of ``finalize``, which
        decides the same thing first (a 10,000-entry ACL for seven platforms prints some 230,000
        values, a Python call each). Every value of any other type is finalized as before."""
        if not self._plain_finalize(frame, finalize):
            self._printed.append(None)
            super()._output_child_pre(node, frame, finalize)
            return
        value = self.temporary_identifier()
        self._printed.append(value)
        self.write(f"str({value} if type({value} := ")

    def _output_child_post(self, node: jinja2.nodes.Expr, frame: jinja2.compiler.Frame, finalize: Any) -> None:
        value = self._printed.pop()
        if value is None:
            super()._output_child_post(node, frame, finalize)
            return
        self.write(f") in environment.finalize_passes else environment.finalize({value}))")

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: jinja2.compiler.Frame) -> None:
        """``a ~ b`` as ``''.join(map(str, (a, b)))`` inline: what Jinja2's ``str_join`` does, without
        its Python call (three an ACL entry). Jinja2's own method where it may escape."""
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            super().visit_Concat(node, frame)
            return
        self.write("''.join(map(str, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")

    def visit_Include(self, node: jinja2.nodes.Include, frame: jinja2.compiler.Frame) -> None:
        """An ``{% include %}`` passes its events on with ``yield from`` (in C) rather than Jinja2's
        ``for event in gen: yield event`` (a Python loop turn per event): a 10,000-entry ACL's
        110,000 events went through that loop in ``section.j2``. Jinja2's own method where the
        name is not one literal string, or it buffers, ignores a missing template, has no context or
        is async. The generator is closed in ``finally`` as before."""
        named = isinstance(node.template, jinja2.nodes.Const) and isinstance(node.template.value, str)
        if (not named or node.ignore_missing or not node.with_context or frame.buffer is not None
                or self.environment.is_async):
            super().visit_Include(node, frame)
            return
        self.writeline("template = environment.get_template(", node)
        self.visit(node.template, frame)
        self.write(f", {self.name!r})")
        self.writeline(
            "gen = template.root_render_func(template.new_context(context.get_all(), True,"
            f" {self.dump_local_context(frame)}))"
        )
        self.writeline("try:")
        self.indent()
        self.writeline("yield from gen")
        self.outdent()
        self.writeline("finally: gen.close()")


class FastEnvironment(jinja2.Environment):
    """A Jinja2 environment whose templates compile through :class:`_CodeGenerator`.

    ``finalize_passes``: the types whose values ``finalize`` returns unchanged, decided by their
    type alone (enforcer.render sets its own): printed without the call. Empty, every value is
    finalized."""

    code_generator_class = _CodeGenerator
    finalize_passes: frozenset[type] = frozenset()


#: Part of every compiled template's cache checksum: a change to how enforcer compiles templates
#: (:class:`_CodeGenerator`) must not load code compiled the old way.
_COMPILER = "enforcer-getattr-joined-include-plain-concat-4"


class CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja2's own cache of compiled templates, in its per-user 0700 directory: compiling the
    templates a 10,000-entry ACL for seven platforms uses (46) was a tenth of that process's CPU,
    paid again by every CLI process. An entry is keyed by the template's path and checked against
    its source's hash, so an edited template compiles anew. A cache that cannot be written (a
    full or read-only disk) or read only means the template is compiled again."""

    def get_source_checksum(self, source: str) -> str:
        return super().get_source_checksum(f"{_COMPILER}\n{source}")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def compiled_templates() -> jinja2.BytecodeCache | None:
    try:
        return CompiledTemplates()
    except (OSError, RuntimeError):  # no safe per-user directory: compile in memory, as before
        return None
