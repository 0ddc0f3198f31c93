"""Initial schema.

Sites, questions with their owners and tags, saved searches and their stored
orderings, the shared API state, refreshes and events.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_backoff',
    sa.Column('method', sa.String(length=200), nullable=False),
    sa.Column('not_before', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('method', name=op.f('pk_api_backoff'))
    )
    op.create_table('api_quota',
    sa.Column('caller', sa.String(length=20), nullable=False),
    sa.Column('quota_max', sa.Integer(), nullable=False),
    sa.Column('quota_remaining', sa.Integer(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('caller', name=op.f('pk_api_quota'))
    )
    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('api_name', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('site_url', sa.String(length=300), nullable=False),
    sa.Column('site_type', sa.String(length=30), nullable=True),
    sa.Column('fetched_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('api_name', name=op.f('uq_sites_api_name'))
    )
    op.create_table('owners',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('user_type', sa.String(length=30), nullable=False),
    sa.Column('reputation', sa.Integer(), nullable=True),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_owners_site_id_sites')),
    sa.PrimaryKeyConstraint('site_id', 'user_id', name=op.f('pk_owners'))
    )
    op.create_table('searches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('params_key', sa.Text(), nullable=False),
    sa.Column('params_hash', sa.String(length=64), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_run_at', sa.DateTime(), nullable=False),
    sa.Column('last_viewed_at', sa.DateTime(), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(), nullable=True),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_searches_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_searches')),
    sa.UniqueConstraint('site_id', 'params_hash', name=op.f('uq_searches_site_id'))
    )
    with op.batch_alter_table('searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_searches_created_at'), ['created_at'], unique=False)

    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_tags_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags'))
    )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.create_index('uq_tags_site_name', ['site_id', 'name'], unique=True)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('search_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['search_id'], ['searches.id'], name=op.f('fk_events_search_id_searches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_search_id'), ['search_id'], unique=False)

    op.create_table('questions',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=1000), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('answer_count', sa.Integer(), nullable=False),
    sa.Column('view_count', sa.Integer(), nullable=False),
    sa.Column('is_answered', sa.Boolean(), nullable=False),
    sa.Column('accepted_answer_id', sa.BigInteger(), nullable=True),
    sa.Column('closed_date', sa.BigInteger(), nullable=True),
    sa.Column('closed_reason', sa.String(length=200), nullable=True),
    sa.Column('creation_date', sa.BigInteger(), nullable=False),
    sa.Column('last_activity_date', sa.BigInteger(), nullable=False),
    sa.Column('last_edit_date', sa.BigInteger(), nullable=True),
    sa.Column('owner_user_id', sa.BigInteger(), nullable=True),
    sa.Column('owner_name', sa.String(length=200), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=True),
    sa.Column('previous_score', sa.Integer(), nullable=True),
    sa.Column('previous_answer_count', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['site_id', 'owner_user_id'], ['owners.site_id', 'owners.user_id'], name=op.f('fk_questions_site_id_owners')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_questions_site_id_sites')),
    sa.PrimaryKeyConstraint('site_id', 'question_id', name=op.f('pk_questions'))
    )
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.create_index('ix_questions_owner', ['site_id', 'owner_user_id'], unique=False)

    op.create_table('refreshes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('search_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('new_count', sa.Integer(), nullable=False),
    sa.Column('changed_count', sa.Integer(), nullable=False),
    sa.Column('api_calls', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['search_id'], ['searches.id'], name=op.f('fk_refreshes_search_id_searches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refreshes'))
    )
    with op.batch_alter_table('refreshes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refreshes_search_id'), ['search_id'], unique=False)

    op.create_table('search_orderings',
    sa.Column('search_id', sa.Integer(), nullable=False),
    sa.Column('sort', sa.String(length=20), nullable=False),
    sa.Column('sort_order', sa.String(length=4), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['search_id'], ['searches.id'], name=op.f('fk_search_orderings_search_id_searches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('search_id', 'sort', 'sort_order', name=op.f('pk_search_orderings'))
    )
    op.create_table('question_tags',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.BigInteger(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id', 'question_id'], ['questions.site_id', 'questions.question_id'], name=op.f('fk_question_tags_site_id_questions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_question_tags_tag_id_tags')),
    sa.PrimaryKeyConstraint('site_id', 'question_id', 'tag_id', name=op.f('pk_question_tags'))
    )
    with op.batch_alter_table('question_tags', schema=None) as batch_op:
        batch_op.create_index('ix_question_tags_tag', ['tag_id'], unique=False)

    op.create_table('result_pages',
    sa.Column('search_id', sa.Integer(), nullable=False),
    sa.Column('sort', sa.String(length=20), nullable=False),
    sa.Column('sort_order', sa.String(length=4), nullable=False),
    sa.Column('api_page', sa.Integer(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('has_more', sa.Boolean(), nullable=False),
    sa.Column('fetched_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['search_id', 'sort', 'sort_order'], ['search_orderings.search_id', 'search_orderings.sort', 'search_orderings.sort_order'], name=op.f('fk_result_pages_search_id_search_orderings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('search_id', 'sort', 'sort_order', 'api_page', name=op.f('pk_result_pages'))
    )
    op.create_table('search_results',
    sa.Column('search_id', sa.Integer(), nullable=False),
    sa.Column('sort', sa.String(length=20), nullable=False),
    sa.Column('sort_order', sa.String(length=4), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.BigInteger(), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['search_id', 'sort', 'sort_order'], ['search_orderings.search_id', 'search_orderings.sort', 'search_orderings.sort_order'], name=op.f('fk_search_results_search_id_search_orderings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id', 'question_id'], ['questions.site_id', 'questions.question_id'], name=op.f('fk_search_results_site_id_questions')),
    sa.PrimaryKeyConstraint('search_id', 'sort', 'sort_order', 'position', name=op.f('pk_search_results'))
    )
    with op.batch_alter_table('search_results', schema=None) as batch_op:
        batch_op.create_index('ix_search_results_question', ['site_id', 'question_id'], unique=False)



def downgrade():
    with op.batch_alter_table('search_results', schema=None) as batch_op:
        batch_op.drop_index('ix_search_results_question')

    op.drop_table('search_results')
    op.drop_table('result_pages')
    with op.batch_alter_table('question_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_question_tags_tag')

    op.drop_table('question_tags')
    op.drop_table('search_orderings')
    with op.batch_alter_table('refreshes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refreshes_search_id'))

    op.drop_table('refreshes')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index('ix_questions_owner')

    op.drop_table('questions')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_search_id'))

    op.drop_table('events')
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_index('uq_tags_site_name')

    op.drop_table('tags')
    with op.batch_alter_table('searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_searches_created_at'))

    op.drop_table('searches')
    op.drop_table('owners')
    op.drop_table('sites')
    op.drop_table('api_quota')
    op.drop_table('api_backoff')
