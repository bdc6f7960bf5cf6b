//! sea-orm entities, one module per table (see `kontor-migrations` for the schema).
#![allow(clippy::struct_field_names)]

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod secret {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "kontor_secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
    }
    no_relations!();
}

pub mod domain {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domains")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod principal {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "principals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub domain_id: i64,
        pub local_part: String,
        pub kind: String,
        pub display_name: Option<String>,
        pub password_hash: Option<String>,
        pub is_admin: bool,
        pub credential_version: i64,
        pub quota_limit: Option<i64>,
        pub used_bytes: i64,
        pub quota_level: i16,
        pub modseq: i64,
        pub oldest_modseq: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod group_member {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub member_id: i64,
    }
    no_relations!();
}

pub mod alias {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "aliases")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub domain_id: i64,
        pub local_part: String,
        pub target_id: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod app_password {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "app_passwords")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub principal_id: i64,
        pub label: String,
        pub secret_hash: String,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
    }
    no_relations!();
}

pub mod collection {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "collections")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub parent_id: Option<i64>,
        pub parent_key: i64,
        pub kind: i16,
        pub name: String,
        pub display_name: Option<String>,
        pub modseq: i64,
        pub created_modseq: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod blob {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub size: i64,
        pub refcount: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod item {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub collection_id: i64,
        pub name: String,
        pub content_type: String,
        pub blob_id: String,
        pub size: i64,
        pub created_by: Option<i64>,
        pub modseq: i64,
        pub created_modseq: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub uid: Option<String>,
        pub time_start: Option<i64>,
        pub time_end: Option<i64>,
    }
    no_relations!();
}

pub mod grant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub collection_id: Option<i64>,
        pub collection_key: i64,
        pub grantee_id: i64,
        pub rights: i32,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod change {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub modseq: i64,
        pub object_type: i16,
        pub object_id: i64,
        pub collection_id: i64,
        pub kind: i16,
        pub op: i16,
        pub name: String,
        /// A message's thread (rows of messages only).
        pub thread_id: Option<i64>,
    }
    no_relations!();
}

pub mod property {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "properties")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub object_type: i16,
        pub object_id: i64,
        pub namespace: String,
        pub name: String,
        pub value: String,
    }
    no_relations!();
}

pub mod mailbox {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailboxes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub collection_id: i64,
        pub account_id: i64,
        pub role: Option<String>,
        pub uidvalidity: i64,
        pub uidnext: i64,
        pub subscribed: bool,
        /// The owner's counts, kept by every write (see `sql::counts`).
        pub total_emails: i64,
        pub unread_emails: i64,
        pub total_threads: i64,
        pub unread_threads: i64,
    }
    no_relations!();
}

pub mod message {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub blob_id: String,
        pub size: i64,
        pub received_at: i64,
        pub sent_at: Option<i64>,
        pub message_id: Option<String>,
        pub in_reply_to: Option<String>,
        pub refs: Option<String>,
        pub subject: String,
        pub base_subject: String,
        pub from_addr: String,
        pub to_addr: String,
        pub cc_addr: String,
        pub preview: String,
        pub structure: String,
        pub has_attachment: bool,
        pub keywords: String,
        pub thread_id: i64,
        pub modseq: i64,
        pub created_modseq: i64,
        pub pop3_retrieved_at: Option<i64>,
    }
    no_relations!();
}

pub mod mail_settings {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: i64,
        pub pop3_keep_days: Option<i32>,
    }
    no_relations!();
}

pub mod mailbox_message {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailbox_messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub mailbox_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub uid: i64,
        pub message_id: i64,
        pub modseq: i64,
        /// The message's arrival time (a copy: the mailbox's order is one index range).
        pub received_at: i64,
    }
    no_relations!();
}

pub mod outbound_queue {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbound_queue")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: Option<i64>,
        pub blob_id: String,
        pub size: i64,
        pub mail_from: String,
        pub rcpt: String,
        pub rcpt_domain: String,
        pub created_at: i64,
        pub next_attempt_at: i64,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub claimed_until: i64,
        pub claim: Option<String>,
        pub dsn_notify: Option<i16>,
        pub dsn_orcpt: Option<String>,
        pub dsn_full: Option<bool>,
        pub dsn_envid: Option<String>,
    }
    no_relations!();
}

pub mod dkim_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dkim_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub domain_id: i64,
        pub selector: String,
        pub algorithm: String,
        pub private_key: Vec<u8>,
        pub public_key: Vec<u8>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod message_seen {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_seen")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub principal_id: i64,
        pub seen: bool,
        pub modseq: i64,
    }
    no_relations!();
}

pub mod shared_unsubscribed {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shared_unsubscribed")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub principal_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub collection_id: i64,
    }
    no_relations!();
}

pub mod lease {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: String,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod upload {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "uploads")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub blob_id: String,
        pub content_type: String,
        pub size: i64,
        pub created_at: i64,
    }

    no_relations!();
}

pub mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "documents")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub kind: String,
        pub data: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    no_relations!();
}
