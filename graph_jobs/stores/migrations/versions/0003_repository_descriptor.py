"""repositories.descriptor: the whole-graph signature (NetLSD heat trace)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 12:00:00

Existing repositories get NULL; the next ingest fills it (until then they are left out
of "repositories like this one").
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('descriptor', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.drop_column('descriptor')
