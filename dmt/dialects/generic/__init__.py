"""The generic dialect: any SQLAlchemy URL whose driver is installed (see :mod:`.dialect`)."""

from dmt.dialects.generic.dialect import GenericDialect, expression_class

__all__ = ["GenericDialect", "expression_class"]
