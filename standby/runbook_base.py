"""What every section of the runbook model is built from: strict sections, names, argvs, ports."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic import Strict as StrictType
from pydantic_core import PydanticCustomError


def _program_given(argv: list[str]) -> list[str]:
    if not argv[0].strip():
        message = "the program is empty; write the command first, e.g. [./check.sh, --quick]"
        raise PydanticCustomError("empty_program", message)
    return argv


Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
# The program comes first and must be there; later arguments may be empty strings, never hold a NUL (exec refuses it).
Argv = Annotated[
    list[Annotated[str, Field(pattern=r"^[^\x00]*$")]],
    Field(min_length=1, json_schema_extra={"prefixItems": [{"type": "string", "pattern": "\\S"}]}),
    AfterValidator(_program_given),
]
# Strict: `port: yes` or `port: "80"` is a mistake, not the number 1 or 80.
Port = Annotated[int, StrictType(), Field(ge=1, le=65535)]


def empty(kind: type[list[Any]] | type[dict[Any, Any]], description: str | None = None) -> Any:
    """An empty list or dict default made new for each instance, the schema still saying `default: []` (or {}).

    Pydantic deep-copies a plain `= []` default on every validation, and a payload leaves defaults out: decoding a
    runbook of 10,000 apps, or a batch of their references, copied tens of thousands of empty lists.
    """
    return Field(default_factory=kind, description=description, json_schema_extra={"default": kind()})


class Strict(BaseModel):
    """Base of every runbook section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
