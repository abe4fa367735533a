"""term_pairs (files that use the same words) and files.terms (each file's heaviest words)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 17:00:00

Existing repositories get no pairs and NULL words; the next ingest fills them (until
then related files are ranked without the shared-words signal).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terms', sa.Text(), nullable=True))
    op.create_table('term_pairs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=False),
        sa.Column('path_a', sa.String(length=4096), nullable=False),
        sa.Column('path_b', sa.String(length=4096), nullable=False),
        sa.Column('similarity', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_term_pairs_repository_id', 'term_pairs', ['repository_id'])


def downgrade() -> None:
    op.drop_index('ix_term_pairs_repository_id', table_name='term_pairs')
    op.drop_table('term_pairs')
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_column('terms')
