"""history (file_history, cochange_pairs, repositories.history_*) and test pairs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 08:30:00

Existing repositories keep their rows; their history is mined whole on the next ingest
(``history_head`` is NULL until then).
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_head', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('history_time', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('history_commits', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('history_status', sa.String(length=255), nullable=True))
    op.create_table('file_history',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=4096), nullable=False),
        sa.Column('commits', sa.Integer(), nullable=False),
        sa.Column('weight', sa.Float(), nullable=False),
        sa.Column('last_time', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_file_history_repository_id', 'file_history', ['repository_id'])
    op.create_table('cochange_pairs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=False),
        sa.Column('path_a', sa.String(length=4096), nullable=False),
        sa.Column('path_b', sa.String(length=4096), nullable=False),
        sa.Column('commits', sa.Integer(), nullable=False),
        sa.Column('weight', sa.Float(), nullable=False),
        sa.Column('last_time', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_cochange_pairs_repository_id', 'cochange_pairs', ['repository_id'])
    op.create_table('test_pairs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=False),
        sa.Column('test_path', sa.String(length=4096), nullable=False),
        sa.Column('source_path', sa.String(length=4096), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_test_pairs_repository_id', 'test_pairs', ['repository_id'])


def downgrade() -> None:
    op.drop_index('ix_test_pairs_repository_id', table_name='test_pairs')
    op.drop_table('test_pairs')
    op.drop_index('ix_cochange_pairs_repository_id', table_name='cochange_pairs')
    op.drop_table('cochange_pairs')
    op.drop_index('ix_file_history_repository_id', table_name='file_history')
    op.drop_table('file_history')
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.drop_column('history_status')
        batch_op.drop_column('history_commits')
        batch_op.drop_column('history_time')
        batch_op.drop_column('history_head')
