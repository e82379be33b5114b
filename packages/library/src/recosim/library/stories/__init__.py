"""Stories: functions and `Story` classes that create variables and bind entities' behaviours."""

from recosim.library.stories.bandit import BanditStory, bandit_story
from recosim.library.stories.recommendation import (
    RecommendationStory,
    SimpleUserRecommenderStory,
    StaticCorpusStory,
    recommendation_story,
    simple_user_recommender_story,
    static_corpus_story,
)
from recosim.library.stories.replay import LoggedSlatesStory, logged_response_log_probability, logged_slates_story

__all__ = [
    "BanditStory",
    "LoggedSlatesStory",
    "RecommendationStory",
    "SimpleUserRecommenderStory",
    "StaticCorpusStory",
    "bandit_story",
    "logged_response_log_probability",
    "logged_slates_story",
    "recommendation_story",
    "simple_user_recommender_story",
    "static_corpus_story",
]
