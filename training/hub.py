"""Upload a finished output folder to the Hub (checkpoints and tracker logs stay local)."""


def push_to_hub(recipe):
    from huggingface_hub import create_repo, upload_folder

    repo = create_repo(recipe.hub_model_id, private=recipe.hub_private_repo, token=recipe.hub_token, exist_ok=True)
    upload_folder(repo_id=repo.repo_id, folder_path=recipe.output_dir, token=recipe.hub_token,
                  commit_message="Upload model trained with emotion-hub train.py",
                  ignore_patterns=[".emotion_hub.json", "checkpoints/*", "runs/*", "*.tfevents.*", "*/events.out.*"])
    print(f"pushed {recipe.output_dir} to {repo}")


__all__ = ["push_to_hub"]
